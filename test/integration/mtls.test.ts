import assert from "node:assert/strict";
import { connect as netConnect } from "node:net";
import { test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { until } from "../controlplane/harness.ts";
import { send, startSidecar, startUpstream } from "../sidecar/helpers.ts";
import { startMeshNode, untilReaches } from "../support/mesh-node.ts";

const MESH = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
spec: {}
---
apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{destinations: [{service: reviews}], timeout: 2s}]
---
# Active checks dial the endpoint as requests do: over mTLS to the STRICT inbound port (plain probes would be
# refused there and take every endpoint out).
apiVersion: meshlet.dev/v1
kind: Policy
metadata: {name: reviews-health}
spec:
  target: {service: reviews}
  healthCheck: {path: /healthz, interval: 200ms, timeout: 1s, unhealthyThreshold: 2}
`;

const REVIEWS_ID = "spiffe://cluster.local/service/reviews";

async function metric(admin: number, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** Sends a plain HTTP request to a port; resolves with what came back before the close ("" = nothing). */
function plainExchange(port: number): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    const s = netConnect(port, "127.0.0.1", () => s.write("GET / HTTP/1.1\r\nhost: reviews\r\n\r\n"));
    s.on("data", (d: Buffer) => {
      got += d.toString();
    });
    s.on("error", () => {});
    s.on("close", () => resolve(got));
    s.setTimeout(5_000, () => s.destroy());
  });
}

test("sidecars talk mTLS with SPIFFE identities from the control plane; plain text and cert-less clients are refused; certificates rotate under load", async (t) => {
  // A 12 s certificate lifetime: renewed every ~6 s, several times during the load phase below.
  const mesh = await startMeshNode(t, () => ["--cert-ttl", "12s"]);
  const { node, bundle } = mesh;
  await mesh.apply(MESH);
  const app = mesh.own(await startUpstream((req, res) => res.end(`app saw ${req.url}`)));
  const control = ["--control", node.grpc, "--log-level", "warn"];
  const reviews = mesh.own(
    await startSidecar(undefined, { service: "reviews", appPort: app.port, staticConfig: false, args: control }),
  );
  const web = mesh.own(await startSidecar(undefined, { service: "web", staticConfig: false, args: control }));
  await untilReaches(web, "reviews", "/x", reviews);
  assert.ok(
    (await metric(reviews.admin, "meshlet_inbound_connections_total", 'transport="mtls"')) >= 1,
    "the call came over mTLS",
  );
  assert.equal(await metric(reviews.admin, "meshlet_inbound_connections_total", 'transport="plaintext"'), 0);
  await until("the app saw web's health checks, through reviews' sidecar", async () =>
    (await metric(reviews.admin, "meshlet_requests_total", 'direction="inbound"')) >= 3 ? true : undefined,
  );
  assert.equal(
    await metric(web.admin, "meshlet_health_check_transitions_total", 'result="unhealthy"'),
    0,
    "no health check failed",
  );

  // Plain HTTP to the STRICT inbound port: closed without an HTTP answer, and counted.
  const refusedBefore = await metric(reviews.admin, "meshlet_inbound_tls_refused_total", 'reason="plaintext"');
  assert.equal(await plainExchange(reviews.inbound), "");
  assert.equal(
    await metric(reviews.admin, "meshlet_inbound_tls_refused_total", 'reason="plaintext"'),
    refusedBefore + 1,
  );

  // TLS without a client certificate: the server's certificate is the SPIFFE identity of reviews, and the
  // connection is refused before any HTTP.
  const noCert = await new Promise<{ san: string | undefined; answer: string; error: string | undefined }>(
    (resolve) => {
      let answer = "";
      let san: string | undefined;
      const s = tlsConnect(
        { host: "127.0.0.1", port: reviews.inbound, ca: bundle, checkServerIdentity: () => undefined },
        () => {
          san = s.getPeerCertificate().subjectaltname;
          s.write("GET / HTTP/1.1\r\nhost: reviews\r\n\r\n");
        },
      );
      let error: string | undefined;
      s.on("data", (d: Buffer) => {
        answer += d.toString();
      });
      s.on("error", (e) => {
        error = e.message;
      });
      s.on("close", () => resolve({ san, answer, error }));
    },
  );
  assert.equal(noCert.san, `URI:${REVIEWS_ID}`);
  assert.equal(noCert.answer, "");
  assert.match(String(noCert.error), /certificate required|alert/i);

  // Load across several renewals: every request answered.
  const deadline = Date.now() + 14_000;
  let sent = 0;
  const failures: string[] = [];
  const worker = async () => {
    while (Date.now() < deadline) {
      const r = await send(web.outbound, { headers: { host: "reviews" }, path: `/load${sent++}` }).catch(
        (e: Error) => ({ status: 0, body: e.message }),
      );
      if (r.status !== 200) failures.push(`${r.status} ${String(r.body).slice(0, 100)}`);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
  assert.ok(sent > 100, `only ${sent} requests sent`);
  const issued = await metric(reviews.admin, "meshlet_sidecar_certificate_requests_total", 'result="issued"');
  assert.ok(issued >= 2, `reviews renewed its certificate during the load (issued ${issued})`);
});

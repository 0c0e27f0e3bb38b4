import assert from "node:assert/strict";
import { connect as netConnect } from "node:net";
import { test } from "node:test";
import { until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { send, startSidecar, startUpstream } from "../sidecar/helpers.ts";
import { startMeshNode, untilReaches } from "../support/mesh-node.ts";

/** reviews runs in namespace legacy (its sidecar's --namespace, verified through the account its Service lists). */
const reviewsService = (mtls = "") => `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
spec:
  serviceAccounts: [{namespace: legacy, name: reviews}]
  ${mtls}
`;

const MESH = `${reviewsService()}---
apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{destinations: [{service: reviews}], timeout: 2s}]
`;

const peerAuth = (name: string, mode: string, namespace?: string) => `apiVersion: meshlet.dev/v1
kind: PeerAuthentication
metadata: {name: ${name}}
spec:
  ${namespace === undefined ? "" : `namespace: ${namespace}`}
  mtls: {mode: ${mode}}
`;

async function metric(admin: number, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** A plain HTTP request to a port; what came back before the close ("" = refused without an answer). */
function plainExchange(port: number): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    const s = netConnect(port, "127.0.0.1", () =>
      s.write("GET /plain HTTP/1.1\r\nhost: reviews\r\nconnection: close\r\n\r\n"),
    );
    s.on("data", (d: Buffer) => {
      got += d.toString();
    });
    s.on("error", () => {});
    s.on("close", () => resolve(got));
    s.setTimeout(5_000, () => s.destroy());
  });
}

test("PeerAuthentication: a namespace's mode opens a STRICT inbound port to plain text, a Service's own mode wins, callers dial by the callee's namespace, a second one for a namespace is refused", async (t) => {
  const mesh = await startMeshNode(t);
  const { node } = mesh;
  const server = ["--server", `https://${node.http}`];
  await mesh.apply(MESH);
  const app = mesh.own(await startUpstream((req, res) => res.end(`app saw ${req.url}`)));
  const control = ["--control", node.grpc, "--log-level", "warn"];
  const reviews = mesh.own(
    await startSidecar(undefined, {
      service: "reviews",
      appPort: app.port,
      staticConfig: false,
      args: [...control, "--namespace", "legacy", "--service-account", "reviews"],
    }),
  );
  const web = mesh.own(await startSidecar(undefined, { service: "web", staticConfig: false, args: control }));
  await untilReaches(web, "reviews", "/x", reviews);
  // The control plane stamped the namespace of reviews' verified identity on its endpoint.
  const endpoints = await (await fetch(`https://${node.http}/v1/endpoints/reviews`)).json();
  assert.deepEqual(
    (endpoints as { endpoints: { namespace?: string }[] }).endpoints.map((e) => e.namespace),
    ["legacy"],
    JSON.stringify(endpoints),
  );

  // Nothing applied: STRICT, plain text is closed without an answer.
  assert.equal(await plainExchange(reviews.inbound), "");
  assert.equal(await metric(reviews.admin, "meshlet_inbound_mtls_mode", 'mode="STRICT"'), 1);

  // The namespace's PERMISSIVE: the plain request reaches the app.
  await mesh.apply(peerAuth("legacy-migration", "PERMISSIVE", "legacy"));
  await until("plain text reaches reviews' app under legacy's PERMISSIVE", async () =>
    /app saw \/plain/.test(await plainExchange(reviews.inbound)) ? true : undefined,
  );
  assert.equal(await metric(reviews.admin, "meshlet_inbound_mtls_mode", 'mode="PERMISSIVE"'), 1);
  assert.equal(await metric(reviews.admin, "meshlet_inbound_mtls_mode", 'mode="STRICT"'), 0);

  // A second one for the same namespace is refused, naming both; the first one stays.
  const second = await runCli(["apply", "-f", "-", ...server], {
    input: peerAuth("legacy-other", "DISABLE", "legacy"),
  });
  assert.equal(second.code, 1, second.stderr);
  assert.match(
    second.stderr,
    /PeerAuthentication\/legacy-other spec\.namespace: namespace "legacy" also gets its mTLS mode from PeerAuthentication\/legacy-migration/,
  );
  const listed = await runCli(["get", "peerauthentications", ...server]);
  assert.match(
    listed.stdout,
    /^NAME\s+SCOPE\s+MODE\s+REVISION\nlegacy-migration\s+namespace\/legacy\s+PERMISSIVE\s+\d+\n$/,
  );

  // The Service's own STRICT wins over its namespace's PERMISSIVE: plain text refused again, mTLS still served.
  await mesh.apply(reviewsService("mtls: {mode: STRICT}"));
  await until("reviews' Service STRICT closes plain text again", async () =>
    (await plainExchange(reviews.inbound)) === "" ? true : undefined,
  );
  await untilReaches(web, "reviews", "/strict", reviews);

  // The namespace DISABLE (and the mesh STRICT): web dials reviews in plain text, since it knows reviews' namespace.
  await mesh.apply(
    `${reviewsService()}---\n${peerAuth("legacy-migration", "DISABLE", "legacy")}---\n${peerAuth("mesh", "STRICT")}`,
  );
  const plainBefore = await metric(reviews.admin, "meshlet_inbound_connections_total", 'transport="plaintext"');
  await until("web reaches reviews in plain text under legacy's DISABLE", async () => {
    const r = await send(web.outbound, { headers: { host: "reviews" }, path: "/disabled" });
    const plain = await metric(reviews.admin, "meshlet_inbound_connections_total", 'transport="plaintext"');
    return r.status === 200 && plain > plainBefore ? true : undefined;
  }).catch((err: unknown) => {
    throw new Error(`${String(err)}\nweb:\n${web.logs()}\nreviews:\n${reviews.logs()}`);
  });
  assert.equal((await send(web.outbound, { headers: { host: "reviews" }, path: "/again" })).status, 200);

  // Without the namespace's: the mesh's STRICT, both ways.
  const deleted = await runCli(["delete", "peerauthentication", "legacy-migration", ...server]);
  assert.equal(deleted.code, 0, deleted.stderr);
  await until("the mesh's STRICT closes plain text", async () =>
    (await plainExchange(reviews.inbound)) === "" ? true : undefined,
  );
  await untilReaches(web, "reviews", "/mesh-strict", reviews);
  assert.equal(await metric(reviews.admin, "meshlet_inbound_mtls_mode", 'mode="STRICT"'), 1);
});

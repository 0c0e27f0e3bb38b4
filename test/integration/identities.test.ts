import assert from "node:assert/strict";
import { test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { until } from "../controlplane/harness.ts";
import { type RunningSidecar, send, startSidecar, startUpstream } from "../sidecar/helpers.ts";
import { startMeshNode } from "../support/mesh-node.ts";

const MESH = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
spec:
  serviceAccounts: [{namespace: bookinfo, name: reviews}]
---
apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: web}
spec:
  serviceAccounts: [{namespace: bookinfo, name: web}]
---
apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{destinations: [{service: reviews}], timeout: 2s}]
---
apiVersion: meshlet.dev/v1
kind: AuthorizationPolicy
metadata: {name: reviews-callers}
spec:
  targetService: reviews
  rules:
    - from: {principals: ["spiffe://cluster.local/ns/bookinfo/sa/web"]}
    - from: {namespaces: [ops]}
      to: {paths: [{exact: /health}]}
---
apiVersion: meshlet.dev/v1
kind: AuthorizationPolicy
metadata: {name: web-not-admin}
spec:
  targetService: reviews
  action: DENY
  rules: [{from: {services: [web]}, to: {paths: [{prefix: /admin}]}}]
`;

/** The SAN of the certificate a sidecar's inbound port presents. */
function inboundSan(port: number, ca: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: "127.0.0.1", port, ca, checkServerIdentity: () => undefined }, () => {
      const san = s.getPeerCertificate().subjectaltname;
      s.destroy();
      resolve(san);
    });
    s.on("error", () => resolve(undefined));
  });
}

test("service-account identities: signed when the Service lists the account, accepted by callers, matched by principals, namespaces and services; an unlisted account is refused", async (t) => {
  const mesh = await startMeshNode(t);
  const { node, bundle } = mesh;
  await mesh.apply(MESH);
  const app = mesh.own(await startUpstream((req, res) => res.end(`app saw ${req.url}`)));
  const control = ["--control", node.grpc, "--log-level", "warn"];
  const account = (ns: string, sa: string) => ["--namespace", ns, "--service-account", sa];
  const reviews = mesh.own(
    await startSidecar(undefined, {
      service: "reviews",
      appPort: app.port,
      staticConfig: false,
      args: [...control, ...account("bookinfo", "reviews")],
    }),
  );
  const web = mesh.own(
    await startSidecar(undefined, {
      service: "web",
      staticConfig: false,
      args: [...control, ...account("bookinfo", "web")],
    }),
  );
  // Its Service lists no account: the /service/ form, which the policy does not name.
  const ratings = mesh.own(await startSidecar(undefined, { service: "ratings", staticConfig: false, args: control }));
  // An ops workload that claims to be web's account but runs as ops/oncall: web lists no such account.
  const impostor = mesh.own(
    await startSidecar(undefined, {
      service: "web",
      staticConfig: false,
      args: [...control, ...account("ops", "oncall")],
    }),
  );

  const call = (from: RunningSidecar, path: string) => send(from.outbound, { headers: { host: "reviews" }, path });
  const ok = await until("web reaches reviews over mTLS with account identities", async () => {
    const r = await call(web, "/x");
    return r.status === 200 ? r : undefined;
  }).catch((err: unknown) => {
    throw new Error(`${String(err)}\nweb:\n${web.logs()}\nreviews:\n${reviews.logs()}`);
  });
  assert.equal(ok.body, "app saw /x");
  // The server's "certificate required" alert may beat the client's handshake callback: ask until one wins.
  const san = await until("the inbound certificate's SAN", () => inboundSan(reviews.inbound, bundle));
  assert.equal(san, "URI:spiffe://cluster.local/ns/bookinfo/sa/reviews");

  const denied = await until("ratings is denied by the principal rule", async () => {
    const r = await call(ratings, "/x");
    return r.status === 403 ? r : undefined;
  });
  assert.equal(denied.headers["x-meshlet-flags"], "AZ");
  // The denial is logged with the peer identity; the log line may reach this process after the 403 did.
  await until("the denial logged with ratings' identity", async () =>
    /spiffe:\/\/cluster\.local\/service\/ratings/.test(reviews.logs()) ? true : undefined,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}\nreviews:\n${reviews.logs()}`);
  });
  // web holds only its account's identity: from.services finds web through the account its Service lists.
  const blocked = await call(web, "/admin/x");
  assert.equal(blocked.status, 403);
  assert.equal(blocked.headers["x-meshlet-flags"], "AZ");

  await until("the impostor's stream is refused with the reason", async () =>
    /may not act as service \\?"web\\?": its spec.serviceAccounts does not list it/.test(impostor.logs())
      ? true
      : undefined,
  );
  const metrics = await (await fetch(`https://${node.http}/metrics`)).text();
  assert.match(metrics, /meshlet_discovery_rejected_total\{reason="wrong_identity"\} [1-9]/);
});

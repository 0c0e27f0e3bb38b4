import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { makeCluster, until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { type RunningSidecar, send, startSidecar, startUpstream, type Upstream } from "../sidecar/helpers.ts";

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
`;

const POLICIES = `apiVersion: meshlet.dev/v1
kind: AuthorizationPolicy
metadata: {name: reviews-readers}
spec:
  targetService: reviews
  action: ALLOW
  rules:
    - from: {services: [web, ratings]}
      to: {methods: [GET], paths: [{prefix: /public}]}
---
apiVersion: meshlet.dev/v1
kind: AuthorizationPolicy
metadata: {name: no-ratings}
spec:
  targetService: reviews
  action: DENY
  rules:
    - from: {identities: ["spiffe://cluster.local/service/ratings"]}
`;

async function metric(admin: number, name: string, labels: string[]): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && labels.every((x) => l.includes(x)));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

test("AuthorizationPolicy applied live: web may read /public on reviews, ratings is denied 403 AZ over mTLS, spellings cannot escape the prefix", async (t) => {
  const cluster = await makeCluster(1);
  const [node] = cluster.nodes;
  assert.ok(node);
  const sidecars: RunningSidecar[] = [];
  let app: Upstream | undefined;
  t.after(async () => {
    await Promise.all(sidecars.map((s) => s.stop()));
    await cluster.stopAll();
    await app?.close();
  });
  cluster.start(node);
  await until("the control plane wrote its trust bundle", () =>
    readFile(`${node.dataDir}/ca.pem`, "utf8").then(
      (pem) => (pem.includes("BEGIN CERTIFICATE") ? pem : undefined),
      () => undefined,
    ),
  );
  const server = ["--server", `https://${node.http}`];
  const applied = await runCli(["apply", "-f", "-", ...server], { input: MESH });
  assert.equal(applied.code, 0, applied.stderr);
  app = await startUpstream((req, res) => res.end(`app saw ${req.url}`));
  const control = ["--control", node.grpc, "--log-level", "warn"];
  const reviews = await startSidecar(undefined, {
    service: "reviews",
    appPort: app.port,
    staticConfig: false,
    args: control,
  });
  sidecars.push(reviews);
  const web = await startSidecar(undefined, { service: "web", staticConfig: false, args: control });
  sidecars.push(web);
  const ratings = await startSidecar(undefined, { service: "ratings", staticConfig: false, args: control });
  sidecars.push(ratings);
  const call = (from: RunningSidecar, path: string, method = "GET") =>
    send(from.outbound, { method, headers: { host: "reviews" }, path });

  // No policy yet: both callers get through, over mTLS.
  for (const caller of [web, ratings]) {
    await until("a caller reaches reviews with mTLS", async () => {
      const r = await call(caller, "/secret");
      return r.status === 200 ? r : undefined;
    }).catch((err: unknown) => {
      throw new Error(`${String(err)}\ncaller:\n${caller.logs()}\nreviews:\n${reviews.logs()}`);
    });
  }
  assert.ok((await metric(reviews.admin, "meshlet_inbound_connections_total", ['transport="mtls"'])) >= 2);

  const policies = await runCli(["apply", "-f", "-", ...server], { input: POLICIES });
  assert.equal(policies.code, 0, policies.stderr);
  const denied = await until("the policies reached reviews: ratings is denied", async () => {
    const r = await call(ratings, "/public/a");
    return r.status === 403 ? r : undefined;
  });
  assert.equal(denied.headers["x-meshlet-flags"], "AZ");
  assert.deepEqual(JSON.parse(String(denied.body)), {
    error: "denied by an AuthorizationPolicy",
    service: "reviews",
    flag: "AZ",
  });

  const allowed = await call(web, "/public/a?x=1");
  assert.equal(allowed.status, 200, String(allowed.body));
  assert.equal(allowed.body, "app saw /public/a?x=1");
  for (const [method, path] of [
    ["GET", "/secret"],
    ["POST", "/public/a"],
    ["GET", "/public/../secret"],
    ["GET", "/public/%2e%2e/secret"],
    ["GET", "/public%2F..%2Fsecret"],
    ["GET", "//secret"],
  ] as const) {
    const r = await call(web, path, method);
    assert.equal(r.status, 403, `${method} ${path}: ${String(r.body)}`);
    assert.equal(r.headers["x-meshlet-flags"], "AZ", `${method} ${path}`);
  }

  const counted = await metric(reviews.admin, "meshlet_requests_total", ['direction="inbound"', 'response_flags="AZ"']);
  assert.ok(counted >= 7, `AZ counted on reviews' inbound side (${counted})`);
  assert.match(reviews.logs(), /request denied by AuthorizationPolicy/);
  assert.match(reviews.logs(), /spiffe:\/\/cluster\.local\/service\/ratings/);

  // Deleting the DENY policy lets ratings read /public again: the ALLOW policy lists it.
  const deleted = await runCli(["delete", "authorizationpolicy", "no-ratings", ...server]);
  assert.equal(deleted.code, 0, deleted.stderr);
  await until("ratings is allowed again", async () => {
    const r = await call(ratings, "/public/a");
    return r.status === 200 ? r : undefined;
  });
  assert.equal((await call(ratings, "/secret")).status, 403, "still outside the ALLOW rule");
});

import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { type TestContext, test } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import { discoveryProto } from "../../src/config/discovery-proto.ts";
import { createCsr } from "../../src/security/csr-request.ts";
import { generateKeyPair } from "../../src/security/keys.ts";
import { type ControlProc, FAST_FLAGS, leaderOf, makeCluster, until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { httpRequest, rawRequest, setRawTlsCa } from "../helpers/raw-http.ts";
import { adminTokenFile, readToken } from "../support/control-auth.ts";
import { controlCredentials } from "../support/control-grpc.ts";

const TOKEN = /^mlt_[A-Za-z0-9_-]{43}$/;

/** A call with exactly this Authorization (or none): the harness adds the admin token only where none is given. */
async function call(node: ControlProc, method: string, path: string, token: string | undefined, body?: string) {
  const res = await fetch(`https://${node.http}${path}`, {
    method,
    headers: { authorization: token === undefined ? "" : `Bearer ${token}` },
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(5_000),
  });
  const text = await res.text();
  const code = res.ok ? undefined : (JSON.parse(text) as { error: { code: string } }).error.code;
  return { status: res.status, code, text };
}

async function cli(node: ControlProc, args: string[], token: string) {
  return runCli([...args, "--server", `https://${node.http}`], { env: { MESHLET_TOKEN: token } });
}

async function createToken(node: ControlProc, admin: string, args: string[]): Promise<string> {
  const r = await cli(node, ["token", "create", ...args], admin);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^${TOKEN.source.slice(1, -1)}\\n$`), "stdout is the token and nothing else");
  return r.stdout.trim();
}

test("one node through the real CLI: 401 without a token, 403 for a role, the token round trip, expiry, no token in any log", async (t) => {
  const c = await makeCluster(1, [...FAST_FLAGS, "--log-level", "debug"]);
  t.after(() => c.stopAll());
  const [n1] = c.nodes;
  assert.ok(n1);
  c.start(n1);
  await leaderOf([n1]);
  const file = adminTokenFile(n1.dataDir);
  setRawTlsCa(readFileSync(path.join(n1.dataDir, "ca.pem")));
  assert.equal(statSync(file).mode & 0o777, 0o600, "admin-token is readable by its owner only");
  const admin = readToken(file) ?? "";
  assert.match(admin, TOKEN);

  // No Authorization header at all (raw bytes: no client adds one).
  const port = Number(n1.http.split(":")[1]);
  const none = await rawRequest(port, [httpRequest("PUT", "/v1/config/app/a", {}, "x")]);
  assert.equal(none.status, 401);
  assert.equal((JSON.parse(none.body) as { error: { code: string } }).error.code, "ERR_UNAUTHENTICATED");
  assert.equal((await call(n1, "GET", "/v1/cluster", undefined)).status, 401, "reads need a token too");
  assert.equal((await call(n1, "GET", "/healthz", undefined)).status, 200, "probes stay open");
  assert.equal((await call(n1, "GET", "/metrics", undefined)).status, 200, "metrics stay open");
  const forged = `mlt_${"A".repeat(43)}`;
  assert.deepEqual((await call(n1, "GET", "/v1/cluster", forged)).code, "ERR_TOKEN_UNKNOWN");
  assert.deepEqual((await call(n1, "GET", "/v1/cluster", "not-a-token")).code, "ERR_TOKEN_MALFORMED");

  const ro = await createToken(n1, admin, ["--role", "read-only", "--name", "viewer"]);
  assert.equal((await call(n1, "GET", "/v1/config?prefix=", ro)).status, 200);
  const refused = await call(n1, "PUT", "/v1/config/app/a", ro, "x");
  assert.deepEqual([refused.status, refused.code], [403, "ERR_FORBIDDEN"]);
  assert.equal((await call(n1, "POST", "/v1/tokens", ro, "{}")).status, 403, "only admin makes tokens");

  const writer = await createToken(n1, admin, ["--role", "config-writer", "--name", "app-writer", "--prefix", "app/"]);
  assert.equal((await call(n1, "PUT", "/v1/config/app/a", writer, "x")).status, 200);
  assert.equal((await call(n1, "PUT", "/v1/config/other", writer, "x")).status, 403);
  // Keys are names, not paths: "app/../other" is a key of its own under app/, and "other" stays untouched.
  assert.equal((await call(n1, "PUT", "/v1/config/app%2F..%2Fother", writer, "x")).status, 200);
  assert.equal(
    (await call(n1, "GET", "/v1/config/other", admin)).status,
    404,
    "the prefix is not escaped by dot segments",
  );
  const op = await createToken(n1, admin, ["--role", "operator", "--name", "deployer"]);
  assert.equal(
    (await call(n1, "DELETE", "/v1/resources/services/nope", op)).status,
    404,
    "an operator may change resources",
  );
  assert.equal((await call(n1, "PUT", "/v1/config/app/a", op, "y")).status, 403);

  const bad = await cli(n1, ["token", "create", "--role", "sidecar", "--name", "s"], admin);
  assert.equal(bad.code, 2, `a sidecar token without --service is a usage error: ${bad.stderr}`);
  assert.equal((await cli(n1, ["token", "create", "--role", "root", "--name", "s"], admin)).code, 2);
  assert.equal((await cli(n1, ["token", "list"], ro)).code, 1, "listing needs admin");

  const list = await cli(n1, ["token", "list", "-o", "json"], admin);
  assert.equal(list.code, 0, list.stderr);
  const items = (JSON.parse(list.stdout) as { items: { name: string; role: string; expiresAt: string | null }[] })
    .items;
  assert.deepEqual(
    items.map((i) => `${i.name}:${i.role}`),
    ["admin-n1:admin", "app-writer:config-writer", "deployer:operator", "viewer:read-only"],
  );
  for (const secret of [admin, ro, writer, op])
    assert.ok(!list.stdout.includes(secret.slice(4)), "list shows no secret");

  const revoke = await cli(n1, ["token", "revoke", "viewer"], admin);
  assert.equal(revoke.code, 0, revoke.stderr);
  const replay = await call(n1, "GET", "/v1/cluster", ro);
  assert.deepEqual([replay.status, replay.code], [401, "ERR_TOKEN_REVOKED"]);
  assert.equal((await cli(n1, ["token", "revoke", "nobody"], admin)).code, 1);

  const brief = await createToken(n1, admin, ["--role", "read-only", "--name", "brief", "--ttl", "1s"]);
  assert.equal((await call(n1, "GET", "/v1/cluster", brief)).status, 200);
  await new Promise((r) => setTimeout(r, 1_100));
  assert.equal((await call(n1, "GET", "/v1/cluster", brief)).code, "ERR_TOKEN_EXPIRED");

  const metrics = (await call(n1, "GET", "/metrics", undefined)).text;
  for (const code of [
    "ERR_UNAUTHENTICATED",
    "ERR_TOKEN_MALFORMED",
    "ERR_TOKEN_UNKNOWN",
    "ERR_FORBIDDEN",
    "ERR_TOKEN_REVOKED",
    "ERR_TOKEN_EXPIRED",
  ])
    assert.match(
      metrics,
      new RegExp(`meshlet_control_auth_refusals_total\\{surface="http",code="${code}"\\} [1-9]`),
      code,
    );

  const log = n1.log.join("");
  assert.match(log, /admin token created/, "the log was captured (at debug level)");
  for (const secret of [admin, ro, writer, op, brief]) {
    assert.ok(!log.includes(secret.slice(4)), "no token in the control plane's log");
    assert.ok(!log.includes(secret.slice(4, 20)), "not even a part of one");
  }
});

test("3 nodes: a token revoked through one member is refused by every member", async (t) => {
  const c = await makeCluster(3);
  t.after(() => c.stopAll());
  for (const n of c.nodes) c.start(n);
  const leader = await leaderOf(c.nodes);
  const admin = readToken(adminTokenFile(c.nodes[0]?.dataDir ?? "")) ?? "";
  const follower = c.nodes.find((n) => n !== leader) ?? leader;
  const token = await createToken(follower, admin, ["--role", "read-only", "--name", "ci"]);
  for (const n of c.nodes)
    await until(`${n.id} knows the token`, async () =>
      (await call(n, "GET", "/v1/cluster", token)).status === 200 ? true : undefined,
    );

  const r = await cli(follower, ["token", "revoke", "ci"], admin);
  assert.equal(r.code, 0, r.stderr);
  for (const n of c.nodes) {
    // Applied on every member within a heartbeat of the revoke returning (it waits until each voter holds it).
    const code = await until(
      `${n.id} refuses the revoked token`,
      async () => {
        const res = await call(n, "GET", "/v1/cluster?consistency=stale", token);
        return res.status === 401 ? res.code : undefined;
      },
      1_000,
    );
    assert.equal(code, "ERR_TOKEN_REVOKED", n.id);
  }
});

/** One node, its admin token, a sidecar token `web-sidecar` bound to web, and a discovery client of the node. */
async function nodeWithSidecarToken(t: TestContext) {
  const c = await makeCluster(1);
  t.after(() => c.stopAll());
  const [n1] = c.nodes;
  assert.ok(n1);
  c.start(n1);
  await leaderOf([n1]);
  const admin = readToken(adminTokenFile(n1.dataDir)) ?? "";
  const web = await createToken(n1, admin, ["--role", "sidecar", "--name", "web-sidecar", "--service", "web"]);
  const Client = discoveryProto().meshlet.discovery.v1.Discovery;
  const client = new Client(n1.grpc, controlCredentials(n1.dataDir));
  t.after(() => client.close());
  return { n1, admin, web, client };
}

test("a sidecar token opens a discovery stream for its own service only", async (t) => {
  const { n1, admin, web, client } = await nodeWithSidecarToken(t);

  /** Opens a stream with `token`, sends `messages`, resolves with how it ended (a gRPC status code, or "open"). */
  const attempt = (token: string | undefined, messages: object[]) =>
    new Promise<{ code: number | "open"; details: string }>((resolve) => {
      const md = new Metadata();
      if (token !== undefined) md.set("authorization", `Bearer ${token}`);
      const stream = client.Stream(md);
      const timer = setTimeout(() => {
        stream.cancel();
        resolve({ code: "open", details: "" });
      }, 1_500);
      stream.on("data", () => {});
      stream.on("error", (err: { code: number; details: string }) => {
        clearTimeout(timer);
        resolve({ code: err.code, details: err.details });
      });
      for (const m of messages) stream.write(m);
    });
  const hello = (service: string) => ({
    hello: { nodeId: `${service}-1`, service, instance: `${service}-1`, subscribe: ["*"] },
  });
  const register = (service: string, address = "127.0.0.1") => ({
    register: {
      endpoint: { service, instance: `${service}-1`, address, port: 9, weight: 1 },
      ttlSeconds: 15,
    },
  });

  const UNAUTHENTICATED = 16;
  const PERMISSION_DENIED = 7;
  assert.equal((await attempt(undefined, [hello("web")])).code, UNAUTHENTICATED);
  assert.equal((await attempt(`mlt_${"B".repeat(43)}`, [hello("web")])).code, UNAUTHENTICATED);
  const other = await attempt(web, [hello("db")]);
  assert.equal(other.code, PERMISSION_DENIED);
  assert.match(other.details, /bound to service "web", not "db"/);
  const sneaky = await attempt(web, [hello("web"), register("db")]);
  assert.equal(sneaky.code, PERMISSION_DENIED, "a register for another service closes the stream");
  // Its own service, but another host's address (the caller is 127.0.0.1, seen through the TLS front door).
  const elsewhere = await attempt(web, [hello("web"), register("web", "10.1.2.3")]);
  assert.equal(elsewhere.code, PERMISSION_DENIED, "a register of another address closes the stream");
  assert.match(elsewhere.details, /^ERR_ADDRESS_NOT_CALLER: .*\(127\.0\.0\.1\)/);
  // An admin token may register any address (it could declare the same in a Service's spec.endpoints).
  assert.equal((await attempt(admin, [hello("web"), register("web", "10.1.2.3")])).code, "open");
  assert.equal((await attempt(web, [hello("web"), register("web")])).code, "open");

  const endpoints = await until("web registered", async () => {
    const res = await call(n1, "GET", "/v1/endpoints/web", admin);
    return res.status === 200 && res.text.includes("web-1") ? res.text : undefined;
  });
  assert.match(endpoints, /web-1/);
  assert.equal((await call(n1, "GET", "/v1/endpoints/db", admin)).text.includes("db-1"), false, "db never registered");
  const metrics = (await call(n1, "GET", "/metrics", undefined)).text;
  assert.match(metrics, /meshlet_discovery_rejected_total\{reason="wrong_service"\} [2-9]/);
  assert.match(metrics, /meshlet_discovery_rejected_total\{reason="address_not_caller"\} 1/);
  assert.match(metrics, /meshlet_control_auth_refusals_total\{surface="grpc",code="ERR_UNAUTHENTICATED"\} 1/);
  assert.match(metrics, /meshlet_control_auth_refusals_total\{surface="grpc",code="ERR_TOKEN_UNKNOWN"\} 1/);
  assert.equal((await call(n1, "GET", "/v1/cluster", web)).status, 403, "a sidecar token cannot use the HTTP API");

  // Once web lists service accounts, its sidecars must run as one of them: a token with no account may not
  // register a web instance on a unary call either (its endpoint would carry no namespace, so callers would
  // apply the mesh-wide mTLS mode to it instead of its namespace's).
  const listed = await call(
    n1,
    "POST",
    "/v1/apply",
    admin,
    "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: web}\nspec: {serviceAccounts: [{namespace: prod, name: web}]}\n",
  );
  assert.equal(listed.status, 200, listed.text);
  const unary = (token: string) =>
    new Promise<{ code: number; details: string } | null>((resolve) => {
      const md = new Metadata();
      md.set("authorization", `Bearer ${token}`);
      client.RegisterInstance(
        { endpoint: { service: "web", instance: "web-u", address: "127.0.0.1", port: 9, weight: 1 }, ttlSeconds: 5 },
        md,
        (err: { code: number; details: string } | null) => resolve(err),
      );
    });
  const refusedUnary = await unary(web);
  assert.equal(refusedUnary?.code, PERMISSION_DENIED);
  assert.match(refusedUnary?.details ?? "", /lists service accounts in spec.serviceAccounts/);
  assert.equal(await unary(admin), null, "an admin token still registers instances without a sidecar");
});

test("a discovery stream whose token is revoked after it opened gets no certificate, and is closed", async (t) => {
  const { n1, admin, web, client } = await nodeWithSidecarToken(t);
  const md = new Metadata();
  md.set("authorization", `Bearer ${web}`);
  const stream = client.Stream(md);
  t.after(() => stream.cancel());
  const certificates: { certChainPem?: string; errorCode?: string }[] = [];
  let ended: { code: number; details: string } | undefined;
  stream.on("data", (m: { certificate?: { certChainPem?: string; errorCode?: string } }) => {
    if (m.certificate !== undefined && m.certificate !== null) certificates.push(m.certificate);
  });
  stream.on("error", (err: { code: number; details: string }) => {
    ended = err;
  });
  const identity = "spiffe://cluster.local/service/web";
  const csr = () => ({ certificateRequest: { csrPem: createCsr(generateKeyPair(), identity) } });
  stream.write({ hello: { nodeId: "web-1", service: "web", instance: "web-1", subscribe: ["*"] } });
  stream.write(csr());
  await until("a certificate while the token is good", async () =>
    certificates.some((x) => (x.certChainPem ?? "") !== "") ? true : undefined,
  );

  const revoke = await cli(n1, ["token", "revoke", "web-sidecar"], admin);
  assert.equal(revoke.code, 0, revoke.stderr);
  stream.write(csr());
  const UNAUTHENTICATED = 16;
  const end = await until("the stream is closed", async () => ended);
  assert.equal(end.code, UNAUTHENTICATED, end.details);
  assert.equal(certificates.filter((x) => (x.certChainPem ?? "") !== "").length, 1, "no certificate after the revoke");
  assert.ok(
    certificates.some((x) => x.errorCode === "ERR_TOKEN_REVOKED"),
    JSON.stringify(certificates),
  );
});

import assert from "node:assert/strict";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { silentLogger } from "../../../src/common/logger.ts";
import { createRegistry } from "../../../src/common/metrics.ts";
import { registerConfigCommands } from "../../../src/controlplane/config/commands.ts";
import { configApi } from "../../../src/controlplane/http/config-api.ts";
import { createHttpServer } from "../../../src/controlplane/http/server.ts";
import { type ControlNode, NoLeaderError, type Proposed } from "../../../src/controlplane/node.ts";
import { RevisionedKv } from "../../../src/controlplane/state/kv.ts";
import { encodeCommand, StateMachine } from "../../../src/controlplane/state/machine.ts";

/** A one-node ControlNode that applies commands at once; `available` false = no quorum (waits, then no leader). */
function memoryNode(): ControlNode & { available: boolean } {
  const sm = new StateMachine(new RevisionedKv());
  registerConfigCommands(sm);
  let index = 0;
  const unavailable = async (deadlineMs: number): Promise<never> => {
    await new Promise((r) => setTimeout(r, deadlineMs));
    throw new NoLeaderError();
  };
  const node = {
    id: "m1",
    term: 1,
    kv: sm.kv,
    available: true,
    isLeader: () => true,
    leader: () => "m1",
    raftStatus: () => ({ commit: index, applied: index }),
    on: () => () => {},
    async propose<R>(command: { type: string }, o: { deadlineMs: number }): Promise<Proposed<R>> {
      if (!node.available) return unavailable(o.deadlineMs);
      const r = sm.apply(++index, 1, encodeCommand(command));
      if (!r.ok) throw r.error;
      return { revision: r.revision, result: r.result as R };
    },
    async read<T>(fn: (kv: RevisionedKv) => T, o: { consistency: string; deadlineMs: number }): Promise<T> {
      if (!node.available && o.consistency !== "stale") return unavailable(o.deadlineMs);
      return fn(sm.kv);
    },
  };
  return node;
}

async function serve(t: { after: (fn: () => void) => void }) {
  const node = memoryNode();
  const server = createHttpServer(node, [configApi], createRegistry({ processMetrics: false }), silentLogger());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { node, base, req: (path: string, init?: RequestInit) => fetch(base + path, init) };
}

test("put, get with ETag, compare-and-set, delete and list", async (t) => {
  const { req } = await serve(t);
  const put1 = await req("/v1/config/app/db.url", { method: "PUT", body: "postgres://a" });
  assert.equal(put1.status, 200);
  const { revision: r1 } = (await put1.json()) as { revision: number };
  const get1 = await req("/v1/config/app/db.url");
  assert.equal(get1.status, 200);
  assert.equal(get1.headers.get("etag"), String(r1));
  assert.equal(await get1.text(), "postgres://a");

  const stale = await req("/v1/config/app/db.url", {
    method: "PUT",
    body: "x",
    headers: { "if-match": String(r1 + 5) },
  });
  assert.equal(stale.status, 412);
  assert.equal(((await stale.json()) as { revision: number }).revision, r1);
  const create = await req("/v1/config/app/db.url", { method: "PUT", body: "x", headers: { "if-match": "0" } });
  assert.equal(create.status, 412);
  const cas = await req("/v1/config/app/db.url", {
    method: "PUT",
    body: "postgres://b",
    headers: { "if-match": String(r1) },
  });
  assert.equal(cas.status, 200);
  const stale2 = await req("/v1/config/app/db.url?consistency=stale");
  assert.equal(await stale2.text(), "postgres://b");

  await req("/v1/config/app/other", { method: "PUT", body: "1" });
  await req("/v1/config/zz", { method: "PUT", body: "2" });
  const list = (await (await req("/v1/config?prefix=app/")).json()) as { key: string; revision: number }[];
  assert.deepEqual(
    list.map((e) => e.key),
    ["app/db.url", "app/other"],
  );

  assert.equal((await req("/v1/config/app/other", { method: "DELETE", headers: { "if-match": "999" } })).status, 412);
  assert.equal((await req("/v1/config/app/other", { method: "DELETE" })).status, 200);
  assert.equal((await req("/v1/config/app/other")).status, 404);
  assert.equal((await req("/v1/config/app/other", { method: "DELETE" })).status, 404);
});

test("bad input gets a clear 400/404/413 and changes nothing", async (t) => {
  const { req, node } = await serve(t);
  const bad = await req("/v1/config/bad%20key", { method: "PUT", body: "v" });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: { message: string } }).error.message, /may contain only/);
  assert.equal((await req(`/v1/config/${"k".repeat(257)}`, { method: "PUT", body: "v" })).status, 400);
  assert.equal((await req("/v1/config/k", { method: "PUT", body: "v", headers: { "if-match": "abc" } })).status, 400);
  assert.equal((await req("/v1/config/k", { method: "PUT", body: Buffer.alloc(1024 * 1024 + 1) })).status, 413);
  assert.equal((await req("/v1/config/k", { method: "PUT", body: Buffer.alloc(1024 * 1024) })).status, 200);
  assert.equal((await req("/v1/nope")).status, 404);
  assert.equal((await req("/v1/config/k?consistency=weird")).status, 400);
  assert.equal((await req("/v1/config/k", { method: "POST" })).status, 405);
  // Config keys only: each accepted write also keeps the key's history (config-history/).
  assert.equal(node.kv.range("config/").length, 1);
});

test("without quorum a request fails with 503 and Retry-After within its deadline", async (t) => {
  const { req, node } = await serve(t);
  await req("/v1/config/k", { method: "PUT", body: "v" });
  node.available = false;
  const started = Date.now();
  const res = await req("/v1/config/k", { method: "PUT", body: "w", headers: { "x-meshlet-timeout": "300" } });
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "1");
  assert.ok(Date.now() - started < 2_000);
  assert.equal((await req("/v1/config/k", { headers: { "x-meshlet-timeout": "200" } })).status, 503);
  assert.equal(await (await req("/v1/config/k?consistency=stale")).text(), "v");
  assert.equal((await req("/v1/config/k", { headers: { "x-meshlet-timeout": "-1" } })).status, 400);
});

/** A request with its target sent exactly as written (fetch would normalise it first). */
function rawRequest(
  base: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const r = request({ host: hostname, port, method, path }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    r.on("error", reject);
    r.end(body);
  });
}

test("request targets are read as URL parsing reads them: dot segments resolved, escapes decoded", async (t) => {
  const { req, base } = await serve(t);
  assert.equal((await req("/v1/config/app/db.url", { method: "PUT", body: "v1" })).status, 200);
  const dotted = await rawRequest(base, "GET", "/v1/config/x/../app/./db.url");
  assert.deepEqual(dotted, { status: 200, text: "v1" });
  assert.deepEqual(await rawRequest(base, "GET", "/v1/config/app/db%2Eurl"), { status: 200, text: "v1" });
  assert.equal((await rawRequest(base, "GET", "/v1/config/app/..")).status, 404);
  const listed = await rawRequest(base, "GET", "/v1/config?prefix=app%2Fdb");
  assert.deepEqual(
    (JSON.parse(listed.text) as { key: string }[]).map((e) => e.key),
    ["app/db.url"],
  );
  assert.equal((await rawRequest(base, "GET", "/v1/config?prefix=nothing")).text, "[]");
});

test("a client that leaves in the middle of a body changes nothing and the node keeps serving", async (t) => {
  const { req, base, node } = await serve(t);
  const { hostname, port } = new URL(base);
  await new Promise<void>((resolve) => {
    const r = request({
      host: hostname,
      port,
      method: "PUT",
      path: "/v1/config/half",
      headers: { "content-length": "100" },
    });
    r.on("error", () => resolve());
    r.write("only part of it", () => setTimeout(() => r.destroy(), 50));
    r.on("close", () => resolve());
  });
  assert.equal((await req("/v1/config/half")).status, 404);
  assert.equal((await req("/v1/config/whole", { method: "PUT", body: "v" })).status, 200);
  assert.equal(node.kv.range("config/").length, 1);
});

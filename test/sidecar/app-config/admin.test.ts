import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import fc from "fast-check";
import { openSse, type SseMessage } from "../../../src/common/sse-client.ts";
import { AppConfigApi } from "../../../src/sidecar/app-config/admin.ts";
import { AppConfigStore } from "../../../src/sidecar/app-config/store.ts";

async function serve(t: { after: (fn: () => void) => void }, store: AppConfigStore | undefined) {
  const api = new AppConfigApi(store, { service: "web", heartbeatMs: 50 });
  const server = createServer((req, res) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    api.handle(req, res, q < 0 ? url : url.slice(0, q), new URLSearchParams(q < 0 ? "" : url.slice(q + 1)));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    api.close();
    server.closeAllConnections();
    server.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, get: (path: string, headers: Record<string, string> = {}) => fetch(base + path, { headers }) };
}

function put(store: AppConfigStore, revision: number, key: string, value: string, release = "base") {
  store.apply({
    revision,
    full: false,
    entries: [{ key, value: Buffer.from(value), revision, release }],
    removed: [],
    keys: ["app/flag", "app/late"],
    prefixes: ["app/shop/"],
  });
}

test("GET /config/{key}: the value as the body, ETag and release; 404 says undeclared or missing; 304 on a match", async (t) => {
  const store = new AppConfigStore();
  const s = await serve(t, store);
  assert.equal((await s.get("/config/app/flag")).status, 503);
  store.setConnected(true);
  put(store, 7, "app/flag", "on", "flag-canary");
  const res = await s.get("/config/app/flag");
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "on");
  assert.equal(res.headers.get("etag"), "7");
  assert.equal(res.headers.get("x-meshlet-config-release"), "flag-canary");
  assert.equal(res.headers.get("x-meshlet-config-stale"), null);
  const undeclared = await s.get("/config/app/secret");
  assert.equal(undeclared.status, 404);
  assert.match(((await undeclared.json()) as { error: string }).error, /not declared by Service web/);
  const missing = await s.get("/config/app/shop/none");
  assert.equal(missing.status, 404);
  assert.match(((await missing.json()) as { error: string }).error, /does not exist/);
  assert.equal((await s.get("/config/app/flag", { "if-none-match": "7" })).status, 304);
  store.setConnected(false);
  const stale = await s.get("/config/app/flag");
  assert.equal(stale.headers.get("x-meshlet-config-stale"), "0");
  const list = (await (await s.get("/config")).json()) as { keys: { key: string; revision: number }[]; stale: number };
  assert.deepEqual(
    list.keys.map((k) => `${k.key}@${k.revision}`),
    ["app/flag@7"],
  );
  assert.equal(list.stale, 0);
});

test("?wait=REV answers at once past REV, at the next change, or at the timeout with what it has", async (t) => {
  const store = new AppConfigStore();
  const s = await serve(t, store);
  put(store, 5, "app/flag", "a");
  assert.equal(await (await s.get("/config/app/flag?wait=4")).text(), "a");
  const started = Date.now();
  const waiting = s.get("/config/app/flag?wait=5");
  setTimeout(() => put(store, 9, "app/flag", "b"), 150);
  const changed = await waiting;
  assert.ok(Date.now() - started >= 140);
  assert.equal(await changed.text(), "b");
  assert.equal(changed.headers.get("etag"), "9");
  const timedOut = await s.get("/config/app/flag?wait=9&timeout=100ms");
  assert.equal(timedOut.status, 200);
  assert.equal(timedOut.headers.get("etag"), "9");
  // A declared key that does not exist yet: the wait ends when it is written.
  const late = s.get("/config/app/late?wait=0");
  setTimeout(() => put(store, 12, "app/late", "here"), 50);
  assert.equal(await (await late).text(), "here");
});

test("?watch=1 streams the current value, then every change; a reconnect with Last-Event-ID skips what it has", async (t) => {
  const store = new AppConfigStore();
  const s = await serve(t, store);
  put(store, 3, "app/flag", "a");
  const messages: SseMessage[] = [];
  const controller = new AbortController();
  t.after(() => controller.abort());
  const opened = await openSse(`${s.base}/config/app/flag?watch=1`, { signal: controller.signal }, (m) =>
    messages.push(m),
  );
  assert.ok(opened.ok);
  put(store, 4, "app/flag", "b", "canary");
  store.apply({ revision: 6, full: true, entries: [], removed: [], keys: ["app/flag"], prefixes: [] });
  const end = Date.now() + 3_000;
  while (messages.length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(
    messages.map((m) => [m.id, JSON.parse(m.data)]),
    [
      ["3", { type: "put", key: "app/flag", value: "a", revision: 3, release: "base" }],
      ["4", { type: "put", key: "app/flag", value: "b", revision: 4, release: "canary" }],
      ["6", { type: "delete", key: "app/flag", revision: 6 }],
    ],
  );
  put(store, 8, "app/flag", "c");
  const again: SseMessage[] = [];
  const c2 = new AbortController();
  t.after(() => c2.abort());
  await openSse(`${s.base}/config/app/flag?watch=1`, { signal: c2.signal, headers: { "last-event-id": "8" } }, (m) =>
    again.push(m),
  );
  put(store, 9, "app/flag", "d");
  while (again.length < 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(
    again.map((m) => m.id),
    ["9"],
  );
});

test("bad input is a 4xx that says why; hostile paths never crash the admin port", async (t) => {
  const store = new AppConfigStore();
  put(store, 1, "app/flag", "a");
  const s = await serve(t, store);
  const table: [string, number][] = [
    ["/config/%E0%A4%A", 400],
    ["/config/bad%20key", 400],
    ["/config/a%3Ab", 400],
    [`/config/${"k".repeat(257)}`, 400],
    ["/config/app/flag?wait=abc", 400],
    ["/config/app/flag?wait=-1", 400],
    ["/config/app/flag?wait=1&timeout=forever", 400],
    ["/config/app/flag?wait=1&timeout=20m", 400],
  ];
  for (const [path, status] of table) {
    const res = await s.get(path);
    const body = (await res.json()) as { error: string };
    assert.equal(res.status, status, path);
    assert.ok(body.error.length > 5, path);
  }
  const { hostname, port } = new URL(s.base);
  await fc.assert(
    fc.asyncProperty(fc.string({ maxLength: 40 }), async (suffix) => {
      const path = `/config/${suffix.replace(/[^\x21-\x7e]/g, "%")}`;
      const status = await new Promise<number>((resolve) => {
        const r = request({ host: hostname, port, path, method: "GET" }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        r.on("error", () => resolve(0));
        r.end();
      });
      assert.ok(status > 0 && status < 500, `${path}: ${status}`);
    }),
    { numRuns: 200 },
  );
  const none = await serve(t, undefined);
  const res = await none.get("/config/app/flag");
  assert.equal(res.status, 404);
  assert.match(((await res.json()) as { error: string }).error, /without --control/);
});

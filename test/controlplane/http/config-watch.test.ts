import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { openSse, type SseMessage } from "../../../src/common/sse-client.ts";
import { RevisionedKv } from "../../../src/controlplane/state/kv.ts";
import { configNode, type Served, serveConfig } from "../config/config-node.ts";

interface Change {
  type: string;
  key: string;
  value?: string;
  encoding?: string;
  revision: number;
}

/** An open watch: its messages as they come, and a way to wait for a number of changes. */
async function watch(s: Served, path: string, headers: Record<string, string> = {}) {
  const messages: SseMessage[] = [];
  const controller = new AbortController();
  const opened = await openSse(`${s.base}${path}`, { headers, signal: controller.signal }, (m) => messages.push(m));
  const changes = () => messages.filter((m) => m.event === "message").map((m) => JSON.parse(m.data) as Change);
  return {
    opened,
    messages,
    changes,
    async until(n: number): Promise<Change[]> {
      const end = Date.now() + 5_000;
      while (changes().length < n) {
        if (Date.now() > end) throw new Error(`only ${changes().length} of ${n} changes: ${JSON.stringify(messages)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return changes();
    },
    close: () => controller.abort(),
  };
}

const put = (s: Served, key: string, body: string | Buffer) =>
  s.req(`/v1/config/${key}`, { method: "PUT", body }).then(async (r) => (await r.json()) as { revision: number });

test("a watch streams each change as one JSON event, from the revision a read reported, past the request deadline", async (t) => {
  const s = await serveConfig(t);
  const first = await put(s, "app/flag", "off");
  const read = await s.req("/v1/config/app/flag");
  const at = Number(read.headers.get("x-meshlet-revision"));
  assert.equal(at, first.revision);
  // A change between the read and the watch is not lost: the watch starts right after the read.
  const between = await put(s, "app/flag", "between");
  const w = await watch(s, `/v1/config/app/flag?watch=1&revision=${at + 1}`, { "x-meshlet-timeout": "200" });
  t.after(w.close);
  assert.ok(w.opened.ok);
  assert.equal(w.opened.headers.get("content-type"), "text/event-stream; charset=utf-8");
  assert.equal(w.opened.headers.get("x-meshlet-revision"), String(at));
  // Well past the 200 ms request deadline: the stream is still open.
  await new Promise((r) => setTimeout(r, 600));
  const binary = Buffer.from([0xff, 0x00, 0xfe]);
  const third = await put(s, "app/flag", binary);
  await s.req("/v1/config/app/other", { method: "PUT", body: "not watched" });
  // A key that starts with the watched one is another key.
  await s.req("/v1/config/app/flag.bak", { method: "PUT", body: "not watched either" });
  const deleted = (await (await s.req("/v1/config/app/flag", { method: "DELETE" })).json()) as { revision: number };
  assert.deepEqual(await w.until(3), [
    { type: "put", key: "app/flag", value: "between", revision: between.revision },
    { type: "put", key: "app/flag", value: binary.toString("base64"), encoding: "base64", revision: third.revision },
    { type: "delete", key: "app/flag", revision: deleted.revision },
  ]);
  const start = w.messages[0];
  assert.equal(start?.event, "start");
  assert.deepEqual(JSON.parse(start?.data ?? "{}"), { revision: at, compactedRevision: 0 });
  // Each change carries its revision as the SSE id, so an EventSource resumes after it.
  assert.deepEqual(
    w.messages.filter((m) => m.event === "message").map((m) => Number(m.id)),
    [between.revision, third.revision, deleted.revision],
  );
});

test("Last-Event-ID (an EventSource reconnecting) wins over ?revision; prefix watches take every key below", async (t) => {
  const s = await serveConfig(t);
  const revs: number[] = [];
  for (const v of ["1", "2", "3"]) revs.push((await put(s, `app/k${v}`, v)).revision);
  const w = await watch(s, `/v1/config/app/?watch=1&prefix=1&revision=${revs[0]}`, {
    "last-event-id": String(revs[1]),
  });
  t.after(w.close);
  assert.deepEqual(
    (await w.until(1)).map((c) => c.key),
    ["app/k3"],
  );
  const all = await watch(s, "/v1/config?watch=1&prefix=app/&revision=1");
  t.after(all.close);
  assert.deepEqual(
    (await all.until(3)).map((c) => c.key),
    ["app/k1", "app/k2", "app/k3"],
  );
});

test("a start before the kept history is 410 with the compacted revision; after the store's revision, 400", async (t) => {
  const s = await serveConfig(t, configNode(new RevisionedKv(4)));
  for (let i = 0; i < 20; i++) await put(s, "k", `v${i}`);
  const gone = await s.req("/v1/config/k?watch=1&revision=1");
  assert.equal(gone.status, 410);
  const body = (await gone.json()) as { error: { code: string }; compactedRevision: number };
  assert.equal(body.error.code, "ERR_COMPACTED");
  const compacted = body.compactedRevision;
  assert.equal(compacted, s.node.kv.compactedRevision);
  assert.ok(compacted > 1);
  assert.equal((await s.req(`/v1/config/k?watch=1&revision=${compacted}`)).status, 410);
  const ok = await watch(s, `/v1/config/k?watch=1&revision=${compacted + 1}`);
  ok.close();
  assert.ok(ok.opened.ok);
  const future = await s.req(`/v1/config/k?watch=1&revision=${s.node.kv.revision + 2}`);
  assert.equal(future.status, 400);
  assert.equal(((await future.json()) as { error: { code: string } }).error.code, "ERR_FUTURE_REVISION");
});

test("hostile revisions and Last-Event-IDs are a 400, never a stream or a 5xx", async (t) => {
  const s = await serveConfig(t);
  await put(s, "k", "v");
  const table = ["-1", "1e3", "0x10", " 1", "1.5", "99999999999999999999", "NaN", "", "１"];
  for (const r of table) {
    const res = await s.req(`/v1/config/k?watch=1&revision=${encodeURIComponent(r)}`);
    assert.equal(res.status, 400, `revision=${JSON.stringify(r)}`);
    await res.body?.cancel();
  }
  await fc.assert(
    fc.asyncProperty(
      fc.string({ maxLength: 20 }).filter((x) => !/^\d{1,15}$/.test(x.trim()) && !/[\r\n\0]/.test(x)),
      async (id) => {
        const res = await s.req("/v1/config/k?watch=1", { headers: { "last-event-id": id } });
        await res.body?.cancel();
        // An empty id is no id (a fresh watch); anything else that is not a revision is refused.
        assert.ok(
          id.trim() === "" ? res.status === 200 : res.status === 400,
          `Last-Event-ID ${JSON.stringify(id)}: ${res.status}`,
        );
      },
    ),
    { numRuns: 60 },
  );
});

test("watches are counted: open by transport, refused and ended by code", async (t) => {
  const s = await serveConfig(t);
  await put(s, "k", "v");
  const w = await watch(s, "/v1/config/k?watch=1");
  await (await s.req("/v1/config/k?watch=1&revision=99")).body?.cancel();
  const metric = async (line: RegExp) => {
    const text = await (await s.req("/metrics")).text();
    return line.exec(text)?.[1];
  };
  assert.equal(await metric(/^meshlet_config_watches\{transport="sse"\} (\d+)$/m), "1");
  assert.equal(await metric(/^meshlet_config_watches_refused_total\{code="ERR_FUTURE_REVISION"\} (\d+)$/m), "1");
  w.close();
  const end = Date.now() + 5_000;
  while ((await metric(/^meshlet_config_watches\{transport="sse"\} (\d+)$/m)) !== "0" && Date.now() < end)
    await new Promise((r) => setTimeout(r, 20));
  assert.equal(await metric(/^meshlet_config_watches_ended_total\{code="client"\} (\d+)$/m), "1");
});

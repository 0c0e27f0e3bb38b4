import assert from "node:assert/strict";
import { test } from "node:test";
import { MeshletError } from "../../../src/common/errors.ts";
import { CompactedError, type KvEvent, RevisionedKv } from "../../../src/controlplane/state/kv.ts";
import { encodeCommand, StateMachine } from "../../../src/controlplane/state/machine.ts";
import { type StoredValue, storedFromText, storedText } from "../../../src/controlplane/state/value.ts";

const enc = storedFromText;
const dec = (v: StoredValue | undefined) => (v === undefined ? undefined : storedText(v));

function machine(history?: number) {
  const sm = new StateMachine(new RevisionedKv(history));
  sm.register("put", (c, { kv }) => {
    for (const [k, v] of Object.entries(c.writes as Record<string, string>)) kv.put(k, enc(v));
    if (c.fail === true) throw new MeshletError("ERR_TEST", "rejected after writing");
    return "done";
  });
  return sm;
}

test("revision of a write is the entry index; createRevision sticks", () => {
  const sm = machine();
  assert.deepEqual(sm.apply(3, 1, encodeCommand({ type: "put", writes: { a: "1" } })), {
    ok: true,
    revision: 3,
    result: "done",
  });
  sm.apply(7, 1, encodeCommand({ type: "put", writes: { a: "2" } }));
  const a = sm.kv.get("a");
  assert.equal(dec(a?.value), "2");
  assert.equal(a?.revision, 7);
  assert.equal(a?.createRevision, 3);
});

test("a command that throws writes nothing and reports its error", () => {
  const sm = machine();
  const r = sm.apply(1, 1, encodeCommand({ type: "put", writes: { a: "1", b: "2" }, fail: true }));
  assert.equal(r.ok, false);
  assert.equal(r.ok ? "" : r.error.code, "ERR_TEST");
  assert.equal(sm.kv.size, 0);
  assert.equal(sm.kv.revision, 1);
});

test("unknown types and garbage entries fail without stopping the log", () => {
  const sm = machine();
  const r1 = sm.apply(1, 1, encodeCommand({ type: "nope" }));
  const r2 = sm.apply(2, 1, new TextEncoder().encode("{not json"));
  assert.equal(r1.ok ? "" : r1.error.code, "ERR_UNKNOWN_COMMAND");
  assert.equal(r2.ok, false);
  assert.equal(sm.apply(3, 1, new Uint8Array()).ok, true);
  assert.equal(sm.kv.revision, 3);
});

test("range is in key order and by prefix; the string view sees pending writes", () => {
  const sm = machine();
  sm.register("view", (_c, { kv }) => {
    kv.put("p/b", enc("B"));
    return kv.view().range("p/");
  });
  sm.apply(1, 1, encodeCommand({ type: "put", writes: { "p/c": "C", "p/a": "A", q: "Q" } }));
  const r = sm.apply(2, 1, encodeCommand({ type: "view" }));
  assert.deepEqual(
    sm.kv.range("p/").map((e) => e.key),
    ["p/a", "p/b", "p/c"],
  );
  assert.deepEqual(r.ok ? (r.result as { key: string }[]).map((e) => e.key) : [], ["p/a", "p/b", "p/c"]);
});

test("watch replays after a revision, follows new writes, and reports compaction", () => {
  const sm = machine(3);
  for (let i = 1; i <= 5; i++) sm.apply(i, 1, encodeCommand({ type: "put", writes: { [`k${i}`]: String(i) } }));
  const seen: KvEvent[] = [];
  const w = sm.kv.watch("k", 3, (e) => seen.push(e));
  sm.apply(6, 1, encodeCommand({ type: "put", writes: { k6: "6", other: "x" } }));
  w.cancel();
  sm.apply(7, 1, encodeCommand({ type: "put", writes: { k7: "7" } }));
  assert.deepEqual(
    seen.map((e) => e.revision),
    [4, 5, 6],
  );
  assert.throws(() => sm.kv.watch("k", 1, () => {}), CompactedError);
});

test("snapshot and restore round-trip the whole KV", () => {
  const sm = machine();
  sm.apply(1, 1, encodeCommand({ type: "put", writes: { a: "1", "b/c": "\u0000\u00ff" } }));
  sm.apply(2, 1, encodeCommand({ type: "put", writes: { a: "2" } }));
  const other = machine();
  other.restore(sm.snapshot());
  assert.equal(other.kv.revision, 2);
  assert.deepEqual(other.kv.get("a"), sm.kv.get("a"));
  assert.equal(dec(other.kv.get("b/c")?.value), "\u0000\u00ff");
  assert.throws(() => other.kv.watch("", 1, () => {}), CompactedError);
});

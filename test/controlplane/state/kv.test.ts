import assert from "node:assert/strict";
import { test } from "node:test";
import { CompactedError, type KvEvent, RevisionedKv } from "../../../src/controlplane/state/kv.ts";
import { storedFromText } from "../../../src/controlplane/state/value.ts";
import { Rng } from "../../sim/rng.ts";

test("watch replays exactly the kept events after a revision, puts with values and deletes without", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const rng = new Rng(seed);
    const limit = 1 + rng.intn(40);
    const kv = new RevisionedKv(limit);
    const all: KvEvent[] = [];
    let revision = 0;
    for (let step = 0; step < 300; step++) {
      revision += 1 + rng.intn(3);
      const key = `${rng.pick(["a/", "b/"])}${rng.intn(6)}`;
      if (rng.chance(0.25) && kv.get(key) !== undefined) {
        kv.delete(key, revision);
        all.push({ type: "delete", key, revision });
      } else {
        const value = storedFromText(`v${revision}`);
        kv.put(key, value, revision);
        all.push({ type: "put", key, value, revision });
      }
      const from = Math.max(0, revision - rng.intn(3 * limit));
      const prefix = rng.pick(["", "a/", "b/3"]) ?? "";
      const seen: KvEvent[] = [];
      try {
        kv.watch(prefix, from, (e) => seen.push(e)).cancel();
      } catch (err) {
        // Compacted only when an event after `from` is no longer kept: at least `limit` are.
        assert.ok(err instanceof CompactedError, `seed ${seed}: ${String(err)}`);
        const after = all.filter((e) => e.revision > from).length;
        assert.ok(after > limit, `seed ${seed} step ${step}: compacted with only ${after} events after ${from}`);
        continue;
      }
      const want = all.filter((e) => e.revision > from && e.key.startsWith(prefix));
      assert.deepEqual(seen, want, `seed ${seed} step ${step}: watch("${prefix}", ${from})`);
    }
  }
});

test("a live watcher gets each event once, in order, and none after cancel", () => {
  const kv = new RevisionedKv(4);
  const seen: KvEvent[] = [];
  const w = kv.watch("k", 0, (e) => seen.push(e));
  kv.put("k1", storedFromText("1"), 1);
  kv.put("x", storedFromText("2"), 2);
  kv.delete("k1", 3);
  w.cancel();
  kv.put("k2", storedFromText("4"), 4);
  assert.deepEqual(seen, [
    { type: "put", key: "k1", value: storedFromText("1"), revision: 1 },
    { type: "delete", key: "k1", revision: 3 },
  ]);
});

test("the history is bounded in bytes too: old large values are compacted, the newest event always kept", () => {
  const kv = new RevisionedKv(1_000, 1_000);
  const big = storedFromText("x".repeat(300));
  for (let r = 1; r <= 10; r++) kv.put("config/big", big, r);
  // 10 events of ~310 bytes against a 1,000-byte cap: trimmed to at most 3/4 of it, so two or fewer are kept.
  assert.ok(kv.compactedRevision >= 8, `compacted at ${kv.compactedRevision}`);
  assert.throws(() => kv.watch("", 1, () => {}), CompactedError);
  const seen: number[] = [];
  kv.watch("", kv.compactedRevision, (e) => seen.push(e.revision)).cancel();
  assert.ok(seen.length >= 1 && seen.at(-1) === 10, `kept ${seen.join(",")}`);
  // One event larger than the cap is still kept: a watcher just behind it can resume.
  kv.put("config/huge", storedFromText("y".repeat(5_000)), 11);
  const last: number[] = [];
  kv.watch("", 10, (e) => last.push(e.revision)).cancel();
  assert.deepEqual(last, [11]);
});

test("restoring a snapshot tells every watcher that its history was cut, at the snapshot's revision", () => {
  const kv = new RevisionedKv();
  const resets: number[] = [];
  const seen: number[] = [];
  kv.watch(
    "config/",
    0,
    (e) => seen.push(e.revision),
    (r) => resets.push(r),
  );
  kv.watch("mesh/", 0, () => {});
  kv.put("config/a", storedFromText("1"), 1);
  kv.restore([["config/a", { value: storedFromText("9"), revision: 40, createRevision: 1 }]], 50);
  assert.deepEqual(resets, [50]);
  assert.deepEqual(seen, [1]);
  assert.equal(kv.compactedRevision, 50);
  assert.throws(() => kv.watch("config/", 49, () => {}), CompactedError);
});

/**
 * The parsed-history cache (history.ts: historyOf / storedHistory): it may only save work, never answer for a
 * value other than the one stored, and what it writes must be the bytes JSON.stringify would have written
 * (nodes of two versions apply the same entry to the same state).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  appendHistory,
  CACHED_HISTORIES,
  cachedHistories,
  entry,
  HISTORY_ENTRIES,
  type HistoryEntry,
  historyOf,
  storedHistory,
} from "../../../src/controlplane/config/history.ts";
import { storedFromText, storedText } from "../../../src/controlplane/state/value.ts";
import { Rng } from "../../sim/rng.ts";

function randomEntry(rng: Rng, revision: number): HistoryEntry {
  const actions = ["put", "delete", "release", "promote", "rollback"] as const;
  const action = actions[rng.intn(actions.length)] ?? "put";
  return entry(
    revision,
    action,
    { at: rng.chance(0.5) ? 1_700_000_000_000 + revision : undefined, by: rng.chance(0.5) ? "tök én" : undefined },
    {
      ...(action === "release" ? { release: `r${revision}`, selector: "10%" } : {}),
      ...(action === "rollback" && rng.chance(0.5) ? { to: revision - 1 } : {}),
      ...(action === "put" ? { bytes: rng.intn(1000) } : {}),
    },
  );
}

test("history: what storedHistory writes is JSON.stringify's bytes, over a key's whole life", () => {
  const rng = new Rng(7);
  let entries: readonly HistoryEntry[] = [];
  let stored = storedHistory("app/k", entries);
  for (let revision = 1; revision <= 3 * HISTORY_ENTRIES; revision++) {
    entries = appendHistory(historyOf("app/k", stored), randomEntry(rng, revision), undefined, undefined).entries;
    stored = storedHistory("app/k", entries);
    assert.equal(storedText(stored), JSON.stringify(entries), `revision ${revision}`);
  }
  assert.equal(historyOf("app/k", stored).length, HISTORY_ENTRIES);
});

test("history: a cached list never answers for another stored value of the same key", () => {
  const first = [entry(1, "put", { at: 1, by: "a" }, { bytes: 1 })];
  const second = [entry(2, "delete", { at: 2, by: "b" })];
  const a = storedHistory("app/x", first);
  // Written by another node version, or restored from a snapshot: not through this cache.
  const b = storedFromText(JSON.stringify(second));
  assert.deepEqual(historyOf("app/x", a), first);
  assert.deepEqual(historyOf("app/x", b), second);
  assert.deepEqual(historyOf("app/x", a), first);
  assert.deepEqual(historyOf("app/y", a), first, "another key with the same bytes parses them");
  assert.deepEqual(historyOf("app/x", undefined), []);
});

test("history: the cache holds the keys written last, and a key that fell out is parsed again", () => {
  const lists = Array.from({ length: CACHED_HISTORIES + 1000 }, (_, i) => [entry(i + 1, "put", {}, { bytes: i })]);
  const stored = lists.map((l, i) => storedHistory(`many/${i}`, l));
  assert.equal(cachedHistories(), CACHED_HISTORIES, "a mesh with 100,000 keys must not hold them all parsed");
  for (let i = 0; i < lists.length; i += 499) assert.deepEqual(historyOf(`many/${i}`, stored[i]), lists[i]);
});

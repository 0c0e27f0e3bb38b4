import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { COMPACT_FROM_KEYS, FAST_BELOW_KEYS, HeapMode } from "../../src/controlplane/heap-mode.ts";

describe("HeapMode", () => {
  it("favors memory from the upper mark on and speed again below the lower one, setting each flag once", () => {
    const set: string[] = [];
    const mode = new HeapMode((flag) => set.push(flag));
    mode.update(100);
    mode.update(COMPACT_FROM_KEYS - 1);
    assert.deepEqual(set, []);
    mode.update(COMPACT_FROM_KEYS);
    mode.update(100_000);
    assert.ok(mode.compact);
    mode.update(FAST_BELOW_KEYS);
    assert.deepEqual(set, ["--optimize-for-size"], "between the marks: no change");
    mode.update(FAST_BELOW_KEYS - 1);
    mode.update(0);
    assert.ok(!mode.compact);
    assert.deepEqual(set, ["--optimize-for-size", "--no-optimize-for-size"]);
  });
});

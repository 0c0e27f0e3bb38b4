import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { committedIndex } from "../../src/raft/quorum.ts";
import { Rng } from "../sim/rng.ts";

/** The definition: sort the voters' matches, highest first, and take the one a majority has reached. */
function byDefinition(voters: readonly string[], progress: ReadonlyMap<string, { match: number }>): number {
  if (voters.length === 0) return 0;
  const matches = voters.map((id) => progress.get(id)?.match ?? 0).sort((a, b) => b - a);
  return matches[Math.floor(voters.length / 2)] ?? 0;
}

describe("committedIndex", () => {
  it("is the index a majority of voters has reached", () => {
    const p = (m: Record<string, number>) => new Map(Object.entries(m).map(([id, match]) => [id, { match }]));
    assert.equal(committedIndex(["a", "b", "c"], p({ a: 7, b: 5, c: 2 })), 5);
    assert.equal(committedIndex(["a", "b", "c", "d"], p({ a: 9, b: 9, c: 4, d: 1 })), 4);
    assert.equal(committedIndex(["a"], p({ a: 3 })), 3);
    // A voter with no progress counts as having nothing; learners (not in `voters`) never count.
    assert.equal(committedIndex(["a", "b", "c"], p({ a: 6, x: 6, y: 6 })), 0);
    assert.equal(committedIndex([], p({ a: 1 })), 0);
  });

  it("agrees with the definition on 20,000 random configurations of 1 to 9 voters", () => {
    const rng = new Rng(20261129);
    for (let round = 0; round < 20_000; round++) {
      const n = 1 + rng.intn(9);
      const voters = Array.from({ length: n }, (_, i) => `n${i}`);
      const progress = new Map<string, { match: number }>();
      // Small index ranges make ties, and some voters have no progress entry at all.
      for (const id of voters) if (!rng.chance(0.1)) progress.set(id, { match: rng.intn(6) });
      if (rng.chance(0.3)) progress.set("learner", { match: 100 });
      assert.equal(
        committedIndex(voters, progress),
        byDefinition(voters, progress),
        `voters ${n}, progress ${JSON.stringify([...progress])}`,
      );
    }
  });
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { leaderLossTicks } from "../../src/controlplane/leader-loss.ts";

test("leader loss: half the election timeout with a 400 ms floor, a jitter that stays inside the timeout", () => {
  // The defaults (100 ms ticks, 10 ticks): 500 ms, then 0-200 ms more.
  assert.deepEqual(leaderLossTicks(100, 10), { leaderLossTick: 5, leaderLossJitterTick: 3 });
  // The tests' fast clusters (50 ms, 10 ticks): half is 250 ms, under the floor, so 400 ms = 8 ticks.
  assert.deepEqual(leaderLossTicks(50, 10), { leaderLossTick: 8, leaderLossJitterTick: 2 });
  // Coarse ticks round up: 600 ms of a 1.2 s timeout is 2 ticks of 400 ms.
  assert.deepEqual(leaderLossTicks(400, 3), { leaderLossTick: 2, leaderLossJitterTick: 1 });
  // A 3 s election timeout: 1.5 s.
  assert.deepEqual(leaderLossTicks(100, 30), { leaderLossTick: 15, leaderLossJitterTick: 8 });
  for (const [tickMs, ticks] of [
    [100, 10],
    [50, 10],
    [10, 100],
    [100, 30],
    [250, 7],
  ] as const) {
    const r = leaderLossTicks(tickMs, ticks);
    assert.ok(r.leaderLossTick * tickMs >= 400, `${tickMs}x${ticks}: ${JSON.stringify(r)}`);
    assert.ok(r.leaderLossTick + r.leaderLossJitterTick <= ticks, `${tickMs}x${ticks}: ${JSON.stringify(r)}`);
  }
});

test("leader loss: off when the floor reaches the election timeout or leaves no room past a heartbeat", () => {
  assert.deepEqual(leaderLossTicks(50, 8), { leaderLossTick: 0, leaderLossJitterTick: 0 });
  assert.deepEqual(leaderLossTicks(400, 2), { leaderLossTick: 0, leaderLossJitterTick: 0 });
  assert.deepEqual(leaderLossTicks(1000, 2), { leaderLossTick: 0, leaderLossJitterTick: 0 });
});

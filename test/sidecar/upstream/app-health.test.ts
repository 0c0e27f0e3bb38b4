import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import { AppHealth } from "../../../src/sidecar/upstream/app-health.ts";

/** Lets the probe's promise and the verdict run after a timer fired. */
const settle = () => new Promise((r) => setImmediate(r));

describe("AppHealth", () => {
  it("two failed probes in a row mark the app unhealthy, one passed probe healthy again; one failure alone does not", async () => {
    const clock = new FakeClock();
    const answers: boolean[] = [];
    const changes: boolean[] = [];
    const health = new AppHealth({
      probe: async () => answers.shift() ?? true,
      intervalMs: 1_000,
      timeoutMs: 500,
      clock,
      onChange: (h) => changes.push(h),
    });
    health.start();
    const step = async (ms: number) => {
      clock.advance(ms);
      await settle();
    };
    // A lone failure (a lost SYN) is confirmed 200 ms later and passes: no change.
    answers.push(false, true);
    await step(1_000);
    await step(200);
    assert.deepEqual(changes, []);
    assert.equal(health.healthy, true);
    // Two in a row: unhealthy, within 1.2 s of the app dying.
    answers.push(false, false);
    await step(1_000);
    await step(200);
    assert.deepEqual(changes, [false]);
    assert.equal(health.healthy, false);
    // Still down: no repeated verdicts.
    answers.push(false);
    await step(1_000);
    assert.deepEqual(changes, [false]);
    // Back: one pass is enough.
    answers.push(true);
    await step(1_000);
    assert.deepEqual(changes, [false, true]);
    health.stop();
  });
});

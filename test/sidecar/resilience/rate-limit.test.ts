import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import { KeyedLimiter } from "../../../src/sidecar/resilience/keyed-limiter.ts";
import { RateLimit } from "../../../src/sidecar/resilience/rate-limit.ts";
import { TokenBucket } from "../../../src/sidecar/resilience/token-bucket.ts";
import { WaitQueue } from "../../../src/sidecar/resilience/wait-queue.ts";

describe("RateLimit (local)", () => {
  it("admits synchronously and describes a refusal for the 429 headers", () => {
    const clock = new FakeClock(1000);
    const rl = new RateLimit({
      ratePerSecond: 2,
      keyed: false,
      source: { kind: "local", limiter: new KeyedLimiter(new TokenBucket(2, 2), 10, clock) },
    });
    assert.equal(rl.admit(""), true);
    assert.equal(rl.admit(""), true);
    assert.equal(rl.admit(""), false);
    assert.deepEqual(rl.refusal(""), { limit: 2, remaining: 0, resetSeconds: 1, retryAfterSeconds: 1 });
  });

  it("refuses at once when no maxWait is set", async () => {
    const clock = new FakeClock();
    const rl = new RateLimit({
      ratePerSecond: 1,
      keyed: false,
      source: { kind: "local", limiter: new KeyedLimiter(new TokenBucket(1, 1), 10, clock) },
    });
    assert.equal(await rl.wait(""), false);
  });
});

describe("WaitQueue (bottleneck)", () => {
  it("lets refused requests wait in FIFO up to maxWait, refuses those that cannot make it, and bounds the queue", async (t) => {
    // Token time comes from a fake clock, so a slow machine cannot hand out a token early; only bottleneck's own
    // scheduling runs on real timers, and the loop below lets it run between steps of 5 fake milliseconds.
    const clock = new FakeClock(0);
    const queue = new WaitQueue(2, clock);
    t.after(() => queue.stop());
    const limiter = new KeyedLimiter(new TokenBucket(20, 1), 10, clock);
    const rl = new RateLimit({
      ratePerSecond: 20,
      keyed: false,
      source: { kind: "local", limiter },
      queue: { queue, maxWaitMs: 120 },
    });
    assert.equal(rl.admit(""), true);
    assert.equal(rl.admit(""), false);
    const order: number[] = [];
    const settledAt = [-1, -1, -1, -1];
    const waits = [0, 1, 2, 3].map((i) =>
      rl.wait("").then((ok) => {
        order.push(i);
        settledAt[i] = clock.now();
        return ok;
      }),
    );
    // No token time passes until bottleneck has refused the overflow: it must not wait for a token to know.
    for (let spins = 0; order.length === 0 && spins < 1000; spins++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.deepEqual(order, [3], "the overflowing waiter is refused before anyone is served");
    while (order.length < 4 && clock.now() < 2000) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      clock.advance(5);
    }
    const results = await Promise.all(waits);
    // Queue size 2: one runs, two wait, the fourth overflows at once.
    assert.equal(results[3], false);
    assert.deepEqual(results.slice(0, 2), [true, true], "tokens at +50 ms and +100 ms are within maxWait");
    assert.equal(results[2], false, "the token at +150 ms is past maxWait");
    // Within one 5 ms step of the loop: the waiter reserves when bottleneck gets to it, up to a step late.
    const [first = -1, second = -1, late = -1] = settledAt;
    assert.ok(first >= 50 && first <= 55 && second >= 100 && second <= 110, `served at ${settledAt.join(", ")}`);
    assert.ok(late >= 0 && late <= 120, `the late waiter is refused by its deadline, not after (${late} ms)`);
  });
});

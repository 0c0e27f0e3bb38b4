import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock, systemClock } from "../../../src/common/clock.ts";
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
    const queue = new WaitQueue(2, systemClock);
    t.after(() => queue.stop());
    const limiter = new KeyedLimiter(new TokenBucket(20, 1), 10, systemClock);
    const rl = new RateLimit({
      ratePerSecond: 20,
      keyed: false,
      source: { kind: "local", limiter },
      queue: { queue, maxWaitMs: 120 },
    });
    assert.equal(rl.admit(""), true);
    assert.equal(rl.admit(""), false);
    const started = performance.now();
    const order: number[] = [];
    const waits = [0, 1, 2, 3].map((i) =>
      rl.wait("").then((ok) => {
        order.push(i);
        return ok;
      }),
    );
    const results = await Promise.all(waits);
    const elapsed = performance.now() - started;
    // Queue size 2: one runs, two wait, the fourth overflows at once.
    assert.equal(results[3], false);
    assert.equal(order[0], 3, "the overflowing waiter is refused before anyone is served");
    assert.deepEqual(results.slice(0, 2), [true, true], "tokens at +50 ms and +100 ms are within maxWait");
    assert.equal(results[2], false, "the token at +150 ms is past maxWait");
    assert.ok(elapsed >= 90, `waited ${elapsed} ms`);
    assert.ok(elapsed < 2000, `waited ${elapsed} ms`);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import { KeyedLimiter } from "../../../src/sidecar/resilience/keyed-limiter.ts";
import { TokenBucket } from "../../../src/sidecar/resilience/token-bucket.ts";

describe("KeyedLimiter", () => {
  it("gives each key its own bucket", () => {
    const clock = new FakeClock();
    const l = new KeyedLimiter(new TokenBucket(1, 1), 10, clock);
    assert.equal(l.tryTake("a"), true);
    assert.equal(l.tryTake("a"), false);
    assert.equal(l.tryTake("b"), true);
    clock.advance(1000);
    assert.equal(l.tryTake("a"), true);
  });

  it("tracks at most maxKeys keys, forgetting the least recently seen", () => {
    const clock = new FakeClock();
    const l = new KeyedLimiter(new TokenBucket(1, 1), 3, clock);
    for (const k of ["a", "b", "c"]) assert.equal(l.tryTake(k), true);
    assert.equal(l.tryTake("a"), false);
    assert.equal(l.tryTake("d"), true);
    assert.equal(l.trackedKeys, 3);
    assert.equal(l.tryTake("b"), true, "b was evicted and starts with a full bucket");
    assert.equal(l.tryTake("a"), false, "a was seen recently and kept its empty bucket");
  });

  it("reports status per key", () => {
    const clock = new FakeClock();
    const l = new KeyedLimiter(new TokenBucket(2, 2), 10, clock);
    l.tryTake("k");
    assert.equal(l.status("k").remaining, 1);
    assert.equal(l.status("other").remaining, 2);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TokenBucket } from "../../../src/sidecar/resilience/token-bucket.ts";

describe("TokenBucket (GCRA)", () => {
  it("admits the burst at once, then one token per interval", () => {
    const b = new TokenBucket(10, 3);
    const s = b.newState(0);
    assert.deepEqual([b.tryTake(s, 0), b.tryTake(s, 0), b.tryTake(s, 0), b.tryTake(s, 0)], [true, true, true, false]);
    assert.equal(b.tryTake(s, 99), false);
    assert.equal(b.tryTake(s, 100), true);
    assert.equal(b.tryTake(s, 100), false);
  });

  it("a 50/s limit admits 50 ± 5 % per second over 5 s under 200/s offered", () => {
    const b = new TokenBucket(50, 5);
    const s = b.newState(0);
    const perSecond = [0, 0, 0, 0, 0];
    for (let i = 0; i < 1000; i++) {
      const now = i * 5;
      if (b.tryTake(s, now)) perSecond[Math.floor(now / 1000)] = (perSecond[Math.floor(now / 1000)] ?? 0) + 1;
    }
    // The first second also spends the initial burst; every later second is the steady rate.
    for (const n of perSecond.slice(1)) assert.ok(n >= 47.5 && n <= 52.5, `per-second admits ${perSecond.join(",")}`);
    const total = perSecond.reduce((a, c) => a + c, 0);
    assert.ok(total >= 237.5 && total <= 262.5, `total ${total} over 5 s`);
  });

  it("reports remaining, reset and retry-after", () => {
    const b = new TokenBucket(3, 2);
    const s = b.newState(1000);
    assert.deepEqual(b.status(s, 1000), { remaining: 2, resetMs: 0, retryAfterMs: 0 });
    b.tryTake(s, 1000);
    b.tryTake(s, 1000);
    const st = b.status(s, 1000);
    assert.equal(st.remaining, 0);
    assert.ok(Math.abs(st.resetMs - 666.67) < 0.01);
    assert.ok(Math.abs(st.retryAfterMs - 333.33) < 0.01);
    assert.equal(b.status(s, 1000 + 1000 / 3).remaining, 1);
  });

  it("reserves tokens in call order within maxWait and leaves state alone otherwise", () => {
    const b = new TokenBucket(10, 1);
    const s = b.newState(0);
    assert.equal(b.reserve(s, 0, 0), 0);
    assert.equal(b.reserve(s, 0, 250), 100);
    assert.equal(b.reserve(s, 0, 250), 200);
    const before = s.tat;
    assert.equal(b.reserve(s, 0, 250), undefined);
    assert.equal(s.tat, before);
    assert.equal(b.tryTake(s, 250), false);
    assert.equal(b.tryTake(s, 300), true);
  });

  it("refills only up to capacity after a long idle period", () => {
    const b = new TokenBucket(100, 4);
    const s = b.newState(0);
    let admitted = 0;
    for (let i = 0; i < 10; i++) if (b.tryTake(s, 60_000)) admitted++;
    assert.equal(admitted, 4);
  });

  it("rejects non-positive or non-finite rates and fractional or zero capacity", () => {
    for (const rate of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      assert.throws(() => new TokenBucket(rate, 1), RangeError);
    for (const cap of [0, 1.5, -2]) assert.throws(() => new TokenBucket(1, cap), RangeError);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../src/common/clock.ts";

describe("FakeClock", () => {
  it("fires timers in deadline order and only when due", () => {
    const clock = new FakeClock(100);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push("b"), 20);
    clock.setTimeout(() => fired.push("a"), 10);
    const c = clock.setTimeout(() => fired.push("c"), 15);
    clock.clearTimeout(c);
    clock.advance(15);
    assert.deepEqual(fired, ["a"]);
    assert.equal(clock.now(), 115);
    clock.advance(5);
    assert.deepEqual(fired, ["a", "b"]);
    assert.equal(clock.pendingTimers(), 0);
  });

  it("runs timers scheduled by timers within the same advance", () => {
    const clock = new FakeClock();
    const at: number[] = [];
    clock.setTimeout(() => {
      at.push(clock.now());
      clock.setTimeout(() => at.push(clock.now()), 5);
    }, 5);
    clock.advance(10);
    assert.deepEqual(at, [5, 10]);
  });
});

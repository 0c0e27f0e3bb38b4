import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import {
  OutlierDetector,
  type OutlierSpec,
  SUCCESS_RATE_REQUEST_VOLUME,
} from "../../../src/sidecar/upstream/outlier.ts";

const spec: OutlierSpec = {
  consecutiveErrors: 3,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionPercent: 50,
};

function detector(clock: FakeClock, over: Partial<OutlierSpec> = {}, keys = ["a", "b", "c", "d"]) {
  const events: string[] = [];
  const d = new OutlierDetector({ ...spec, ...over }, clock, {
    onEject: (k, why) => events.push(`eject ${k} ${why}`),
    onReturn: (k) => events.push(`return ${k}`),
  });
  d.setEndpoints(keys);
  return { d, events };
}

function fail(d: OutlierDetector, key: string, n: number) {
  for (let i = 0; i < n; i++) d.report(key, true);
}

describe("OutlierDetector", () => {
  it("ejects after N consecutive errors and returns after the base ejection time", () => {
    const clock = new FakeClock();
    const { d, events } = detector(clock);
    fail(d, "a", 2);
    d.report("a", false);
    fail(d, "a", 2);
    assert.equal(d.isEjected("a"), false, "a success resets the run");
    d.report("a", true);
    assert.equal(d.isEjected("a"), true);
    clock.advance(29_999);
    assert.equal(d.isEjected("a"), true);
    clock.advance(1);
    assert.equal(d.isEjected("a"), false);
    assert.deepEqual(events, ["eject a consecutive-errors", "return a"]);
    d.stop();
  });

  it("ejects for base time × number of ejections", () => {
    const clock = new FakeClock();
    const { d } = detector(clock, { intervalMs: 1_000_000 });
    fail(d, "a", 3);
    clock.advance(30_000);
    fail(d, "a", 3);
    assert.equal(d.describe("a")?.ejections, 2);
    clock.advance(59_999);
    assert.equal(d.isEjected("a"), true);
    clock.advance(1);
    assert.equal(d.isEjected("a"), false);
    d.stop();
  });

  it("never ejects more than maxEjectionPercent of the endpoints", () => {
    const clock = new FakeClock();
    const { d } = detector(clock);
    for (const k of ["a", "b", "c", "d"]) fail(d, k, 3);
    assert.deepEqual(d.ejected(), ["a", "b"]);
    const one = detector(clock, {}, ["only"]);
    fail(one.d, "only", 5);
    assert.equal(one.d.isEjected("only"), false, "ejecting the only endpoint would exceed 50 %");
    d.stop();
    one.d.stop();
  });

  it("lowers the ejection multiplier after a quiet interval", () => {
    const clock = new FakeClock();
    const { d } = detector(clock, { baseEjectionTimeMs: 1_000 });
    fail(d, "a", 3);
    clock.advance(10_000);
    assert.equal(d.describe("a")?.ejections, 0);
    d.stop();
  });

  it("forgets removed endpoints and frees their ejection slot", () => {
    const clock = new FakeClock();
    const { d } = detector(clock, {}, ["a", "b"]);
    fail(d, "a", 3);
    d.setEndpoints(["b", "c"]);
    assert.equal(d.isEjected("a"), false);
    fail(d, "b", 3);
    assert.equal(d.isEjected("b"), true);
    d.stop();
    assert.equal(clock.pendingTimers(), 0);
  });

  it("ejects a success-rate outlier when enough endpoints have traffic", () => {
    const clock = new FakeClock();
    const keys = ["a", "b", "c", "d", "e"];
    const { d, events } = detector(clock, { successRateMinimumHosts: 5, consecutiveErrors: 1000 }, keys);
    for (const k of keys) {
      for (let i = 0; i < SUCCESS_RATE_REQUEST_VOLUME; i++) d.report(k, k === "e" ? i % 2 === 0 : i % 50 === 0);
    }
    clock.advance(10_000);
    assert.deepEqual(events, ["eject e success-rate"]);
    d.stop();
  });
});

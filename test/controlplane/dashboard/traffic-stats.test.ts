import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { aggregate, quantileMs } from "../../../src/controlplane/dashboard/traffic-stats.ts";
import type { TrafficWindow } from "../../../src/controlplane/discovery/load-reports.ts";

const BOUNDS = [0.01, 0.1, 1];

function window(windowMs: number, service: string, requests: number, errors: number, buckets: number[]): TrafficWindow {
  return {
    windowMs,
    bounds: BOUNDS,
    series: [{ direction: "inbound", service, requests, errors, fallbacks: 0, buckets }],
  };
}

describe("quantileMs", () => {
  it("interpolates within the bucket the rank falls in, as histogram_quantile does", () => {
    assert.equal(quantileMs(0.5, BOUNDS, [10, 0, 0, 0]), 5);
    assert.ok(Math.abs((quantileMs(0.99, BOUNDS, [0, 100, 0, 0]) ?? 0) - (10 + 90 * 0.99)) < 1e-9);
    assert.equal(quantileMs(0.99, BOUNDS, [99, 0, 1, 0]), 10, "the 99th of 100 is the last of the first bucket");
    assert.equal(quantileMs(0.99, BOUNDS, [0, 0, 0, 5]), 1000, "+Inf gives the highest finite bound");
    assert.equal(quantileMs(0.99, BOUNDS, [0, 0, 0, 0]), null);
  });
});

describe("aggregate", () => {
  it("adds rates across sidecars and merges their histograms", () => {
    const stats = aggregate(
      [
        window(2_000, "reviews", 20, 2, [20, 0, 0, 0]),
        window(1_000, "reviews", 5, 0, [0, 5, 0, 0]),
        window(1_000, "web", 9, 9, [0, 0, 9, 0]),
      ],
      (s) => s.service === "reviews",
    );
    assert.equal(stats.rps, 15);
    assert.equal(stats.errorRate, 2 / 25);
    assert.equal(stats.fallbackRate, 0);
    // 25 requests: the 99th percentile's rank 24.75 is in the second bucket (10-100 ms), 4.75 of its 5.
    assert.ok(Math.abs((stats.p99Ms ?? 0) - (10 + 90 * (4.75 / 5))) < 1e-9);
  });

  it("says nothing of errors or latency without requests", () => {
    assert.deepEqual(
      aggregate([], () => true),
      { rps: 0, errorRate: null, fallbackRate: null, p99Ms: null },
    );
  });
});

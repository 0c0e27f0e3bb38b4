import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { SidecarReport } from "../../../src/config/sidecar-report.ts";
import { SidecarLoad } from "../../../src/controlplane/discovery/load-reports.ts";

const BOUNDS = [0.01, 0.1, 1];

function report(requests: number, errors: number, buckets: number[], intervalMs = 2_000): SidecarReport {
  return {
    intervalMs,
    breakers: [],
    endpoints: [],
    traffic: {
      bounds: BOUNDS,
      series: [{ direction: "outbound", service: "reviews", requests, errors, fallbacks: 0, buckets }],
    },
  };
}

describe("SidecarLoad", () => {
  it("makes a window of deltas from two reports, the histogram per bucket", () => {
    const load = new SidecarLoad();
    assert.equal(load.record(report(10, 1, [5, 8, 10, 10]), 0), true);
    assert.equal(load.window(0), null, "one report gives no rate");
    assert.equal(load.record(report(30, 3, [10, 25, 30, 30]), 2_000), true);
    assert.deepEqual(load.window(2_000), {
      windowMs: 2_000,
      bounds: BOUNDS,
      series: [
        { direction: "outbound", service: "reviews", requests: 20, errors: 2, fallbacks: 0, buckets: [5, 12, 3, 0] },
      ],
    });
  });

  it("counts a report that follows skipped ones (nothing changed meanwhile) over one interval", () => {
    const load = new SidecarLoad();
    load.record(report(10, 0, [10, 10, 10, 10]), 0);
    load.record(report(14, 0, [14, 14, 14, 14]), 10_000);
    assert.equal(load.window(10_000)?.windowMs, 2_000);
  });

  it("gives an empty window once the sidecar has been silent, which it is only when its counters stood still", () => {
    const load = new SidecarLoad();
    load.record(report(10, 0, [10, 10, 10, 10]), 0);
    load.record(report(20, 0, [20, 20, 20, 20]), 2_000);
    assert.equal(load.window(6_000)?.series.length, 1);
    assert.deepEqual(load.window(7_001)?.series, []);
  });

  it("refuses what is not a load report, and keeps the previous one", () => {
    const hostile: unknown[] = [
      null,
      42,
      "report",
      [],
      {},
      { breakers: {} },
      { ...report(1, 0, [1, 1, 1, 1]), intervalMs: 0 },
      { ...report(1, 0, [1, 1, 1, 1]), intervalMs: Number.NaN },
      report(-1, 0, [1, 1, 1, 1]),
      report(1.5, 0, [1, 1, 1, 1]),
      report(
        1,
        0,
        Array.from({ length: 66 }, () => 1),
      ),
      { ...report(1, 0, [1]), breakers: Array.from({ length: 1_001 }, () => ({ target: "t", state: 0 })) },
      { ...report(1, 0, [1]), breakers: [{ target: "t", state: 3 }] },
      { ...report(1, 0, [1]), traffic: { bounds: [Number.POSITIVE_INFINITY], series: [] } },
      { ...report(1, 0, [1]), traffic: { bounds: [], series: [{ direction: "sideways", service: "x" }] } },
      { ...report(1, 0, [1]), endpoints: [{ service: "x".repeat(301), endpoint: "a:1", state: "ejected" }] },
    ];
    const load = new SidecarLoad();
    load.record(report(1, 0, [1, 1, 1, 1]), 0);
    for (const value of hostile) assert.equal(load.record(value, 1_000), false, JSON.stringify(value)?.slice(0, 80));
    assert.equal(load.report?.traffic.series[0]?.requests, 1);
    assert.equal(load.window(1_000), null);
  });

  it("never throws, and gives only non-negative counts, whatever two values arrive", () => {
    const series = fc.record({
      direction: fc.constantFrom("inbound", "outbound"),
      service: fc.constantFrom("a", "b"),
      requests: fc.nat(),
      errors: fc.nat(),
      fallbacks: fc.nat(),
      buckets: fc.array(fc.nat(), { maxLength: 4 }),
    });
    const reportArb = fc.oneof(
      fc.record({
        intervalMs: fc.integer({ min: 100, max: 10_000 }),
        breakers: fc.constant([]),
        endpoints: fc.constant([]),
        traffic: fc.record({ bounds: fc.constant(BOUNDS), series: fc.array(series, { maxLength: 4 }) }),
      }),
      fc.anything(),
    );
    fc.assert(
      fc.property(reportArb, reportArb, fc.nat(100_000), (a, b, dt) => {
        const load = new SidecarLoad();
        load.record(a, 0);
        load.record(b, dt);
        const w = load.window(dt);
        if (w === null) return;
        assert.ok(w.windowMs > 0);
        for (const s of w.series) {
          for (const n of [s.requests, s.errors, s.fallbacks, ...s.buckets]) assert.ok(n >= 0 && Number.isFinite(n));
        }
      }),
      { numRuns: 500 },
    );
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { sidecarReportSchema } from "../../src/config/sidecar-report.ts";
import { buildLoadReport } from "../../src/sidecar/load-report.ts";
import { SidecarMetrics, statusClassIndex } from "../../src/sidecar/metrics.ts";
import type { CounterSeries } from "../../src/sidecar/telemetry/series.ts";

describe("buildLoadReport", () => {
  it("reads requests, 5xx, fallbacks and the duration histogram per direction and service from the metrics", async () => {
    const metrics = new SidecarMetrics(new Registry());
    const reviews = metrics.forwarded("outbound", "reviews");
    for (const status of [200, 200, 503]) (reviews.requests[statusClassIndex(status)] as CounterSeries).value++;
    metrics.duration.observe(reviews.duration, 0.002);
    metrics.duration.observe(reviews.duration, 0.3);
    metrics.requestSeries("outbound", "ratings", "2xx", "CB,FB").value += 4;
    metrics.requestSeries("outbound", "ratings", "5xx", "UF").value++;
    metrics.requestSeries("inbound", "web", "2xx", "-").value += 7;

    const report = await buildLoadReport(metrics, undefined, 1_000);
    assert.equal(sidecarReportSchema.safeParse(report).success, true);
    assert.equal(report.intervalMs, 1_000);
    assert.deepEqual(report.breakers, []);
    assert.deepEqual(report.endpoints, []);
    assert.equal(report.traffic.bounds.length, 14);
    const of = (direction: string, service: string) =>
      report.traffic.series.find((s) => s.direction === direction && s.service === service);
    assert.deepEqual(
      { ...of("outbound", "reviews"), buckets: undefined },
      { direction: "outbound", service: "reviews", requests: 3, errors: 1, fallbacks: 0, buckets: undefined },
    );
    const buckets = of("outbound", "reviews")?.buckets ?? [];
    assert.equal(buckets.length, 15, "one per bound, then +Inf");
    assert.equal(buckets[buckets.length - 1], 2);
    // Cumulative: 2 ms lands in the 2.5 ms bucket and every one above; 300 ms from the 0.5 s bucket on.
    assert.equal(buckets[report.traffic.bounds.indexOf(0.0025)], 1);
    assert.equal(buckets[report.traffic.bounds.indexOf(0.25)], 1);
    assert.equal(buckets[report.traffic.bounds.indexOf(0.5)], 2);
    assert.deepEqual(
      { ...of("outbound", "ratings"), buckets: undefined },
      { direction: "outbound", service: "ratings", requests: 5, errors: 1, fallbacks: 4, buckets: undefined },
    );
    assert.equal(of("inbound", "web")?.requests, 7);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { SidecarMetrics, statusClass, statusClassIndex } from "../../src/sidecar/metrics.ts";
import type { CounterSeries } from "../../src/sidecar/telemetry/series.ts";

describe("SidecarMetrics.forwarded", () => {
  it("counts forwarded responses in the same series labels() would, reusing them per direction and service", async () => {
    const registry = new Registry();
    const metrics = new SidecarMetrics(registry);
    const out = metrics.forwarded("outbound", "a");
    assert.equal(metrics.forwarded("outbound", "a"), out);
    assert.notEqual(metrics.forwarded("inbound", "a"), out);
    for (const status of [200, 204, 503, 99, 600]) (out.requests[statusClassIndex(status)] as CounterSeries).value++;
    metrics.duration.observe(out.duration, 0.002);
    metrics.requestSeries("outbound", "a", "2xx", "-").value++;
    const text = await registry.metrics();
    assert.match(text, /meshlet_sidecar_requests_total\{direction="outbound",service="a",code="2xx",flags="-"\} 3/);
    assert.match(text, /meshlet_sidecar_requests_total\{direction="outbound",service="a",code="5xx",flags="-"\} 1/);
    assert.match(text, /meshlet_sidecar_requests_total\{direction="outbound",service="a",code="other",flags="-"\} 2/);
    assert.match(text, /meshlet_sidecar_request_duration_seconds_count\{direction="outbound",service="a"\} 1/);
    // A series appears with its first sample, not when its child is made.
    assert.doesNotMatch(text, /direction="inbound"/);
    assert.doesNotMatch(text, /code="1xx"/);
  });

  it("indexes status classes as statusClass names them", () => {
    const names = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];
    for (const status of [0, 99, 100, 199, 200, 302, 404, 500, 599, 600, 1000]) {
      assert.equal(names[statusClassIndex(status)], statusClass(status), `status ${status}`);
    }
  });
});

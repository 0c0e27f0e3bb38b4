import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as promClient from "prom-client";
import { createRegistry, METRIC_PREFIX } from "../../src/common/metrics.ts";
import { Counter, Gauge, Histogram, Registry } from "../../src/common/prom.ts";

describe("process metrics without prom-client's index", () => {
  it("registers what collectDefaultMetrics registers: same names, types and help", async () => {
    const reference = new promClient.Registry();
    promClient.collectDefaultMetrics({ register: reference, prefix: METRIC_PREFIX });
    const shape = async (r: promClient.Registry) =>
      (await r.getMetricsAsJSON()).map((m) => `${m.name} ${m.type} ${m.help}`).sort();
    assert.deepEqual(await shape(createRegistry()), await shape(reference));
  });

  it("counts CPU time in the three counters, the total their sum", async () => {
    const registry = createRegistry();
    // Busy for 50 ms of this process's own CPU time (wall time would pass without it on a loaded machine).
    const start = process.cpuUsage().user;
    while (process.cpuUsage().user - start < 50_000);
    const value = async (name: string) =>
      (await registry.getSingleMetric(`${METRIC_PREFIX}${name}`)?.get())?.values[0]?.value ?? Number.NaN;
    const text = await registry.metrics();
    assert.match(text, /meshlet_process_cpu_seconds_total \d/);
    const [user, system, total] = [
      await value("process_cpu_user_seconds_total"),
      await value("process_cpu_system_seconds_total"),
      await value("process_cpu_seconds_total"),
    ];
    assert.ok(user > 0.02, `user CPU ${user}`);
    assert.ok(Math.abs(user + system - total) < 1e-9, `${user} + ${system} = ${total}`);
  });

  it("hands out prom-client's own classes", () => {
    assert.equal(Counter, promClient.Counter);
    assert.equal(Gauge, promClient.Gauge);
    assert.equal(Histogram, promClient.Histogram);
    assert.equal(Registry, promClient.Registry);
  });
});

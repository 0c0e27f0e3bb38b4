/**
 * The parts of prom-client meshlet uses, required from its lib/ one by one.
 * Its index loads every part: the push gateway client, the cluster
 * aggregator, summaries (with their t-digest), and through the CPU metric of
 * its default metrics @opentelemetry/api (for exemplars, which meshlet does
 * not enable): about 80 modules a sidecar never runs. The classes are the
 * same as the index's (one module cache), so prom-client's own types apply.
 */
import { createRequire } from "node:module";
import type * as PromClient from "prom-client";

const require = createRequire(import.meta.url);

export type Counter<T extends string = string> = PromClient.Counter<T>;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export type Histogram<T extends string = string> = PromClient.Histogram<T>;
export type Registry = PromClient.Registry;
export type Metric<T extends string = string> = PromClient.Metric<T>;

export const Counter: typeof PromClient.Counter = require("prom-client/lib/counter.js");
export const Gauge: typeof PromClient.Gauge = require("prom-client/lib/gauge.js");
export const Histogram: typeof PromClient.Histogram = require("prom-client/lib/histogram.js");
export const Registry: typeof PromClient.Registry = require("prom-client/lib/registry.js");

type DefaultMetric = (registry: Registry, config: { prefix: string; eventLoopMonitoringPrecision: number }) => void;

/** prom-client's default metrics but its CPU one (processCpuTotal needs @opentelemetry/api), each by its own module. */
const DEFAULT_METRICS = [
  "processStartTime",
  "osMemoryHeap",
  "processOpenFileDescriptors",
  "processMaxFileDescriptors",
  "eventLoopLag",
  "processResources",
  "processHandles",
  "processRequests",
  "heapSizeAndUsed",
  "heapSpacesSizeAndUsed",
  "version",
  "gc",
] as const;

/**
 * What prom-client's collectDefaultMetrics registers, under the same names:
 * the CPU counters (process_cpu_user_seconds_total, process_cpu_system_-
 * seconds_total, process_cpu_seconds_total) are made here, without exemplars,
 * the rest by prom-client's own modules.
 */
export function collectProcessMetrics(registry: Registry, prefix: string): void {
  const config = { prefix, eventLoopMonitoringPrecision: 10 };
  for (const name of DEFAULT_METRICS)
    (require(`prom-client/lib/metrics/${name}.js`) as DefaultMetric)(registry, config);
  let last = process.cpuUsage();
  const user = new Counter({
    name: `${prefix}process_cpu_user_seconds_total`,
    help: "Total user CPU time spent in seconds.",
    registers: [registry],
    // One collect sets all three, as prom-client's does.
    collect() {
      const now = process.cpuUsage();
      user.inc((now.user - last.user) / 1e6);
      system.inc((now.system - last.system) / 1e6);
      total.inc((now.user - last.user + now.system - last.system) / 1e6);
      last = now;
    },
  });
  const system = new Counter({
    name: `${prefix}process_cpu_system_seconds_total`,
    help: "Total system CPU time spent in seconds.",
    registers: [registry],
  });
  const total = new Counter({
    name: `${prefix}process_cpu_seconds_total`,
    help: "Total user and system CPU time spent in seconds.",
    registers: [registry],
  });
}

import { collectProcessMetrics, Registry } from "./prom.ts";

export const METRIC_PREFIX = "meshlet_";

/**
 * A registry per process (and per test), never prom-client's global one, so
 * two components in one test process do not collide on metric names.
 */
export function createRegistry(options: { processMetrics: boolean } = { processMetrics: true }): Registry {
  const registry = new Registry();
  if (options.processMetrics) collectProcessMetrics(registry, METRIC_PREFIX);
  return registry;
}

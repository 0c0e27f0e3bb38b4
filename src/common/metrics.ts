import { collectDefaultMetrics, Registry } from "prom-client";

export const METRIC_PREFIX = "meshlet_";

/**
 * A registry per process (and per test), never prom-client's global one, so
 * two components in one test process do not collide on metric names.
 */
export function createRegistry(options: { processMetrics: boolean } = { processMetrics: true }): Registry {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return registry;
}

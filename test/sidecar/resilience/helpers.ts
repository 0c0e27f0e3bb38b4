import { FakeClock } from "../../../src/common/clock.ts";
import { silentLogger } from "../../../src/common/logger.ts";
import { createRegistry } from "../../../src/common/metrics.ts";
import type { Policy } from "../../../src/config/resources.ts";
import { policySchema } from "../../../src/config/resources.ts";
import { type CompilerDeps, PolicyCompiler } from "../../../src/sidecar/resilience/compile.ts";
import { ResilienceMetrics } from "../../../src/sidecar/resilience/metrics.ts";

/** A Policy resource through the real schema (defaults applied), from its spec. */
export function policy(name: string, spec: Record<string, unknown>): Policy {
  return policySchema.parse({ apiVersion: "meshlet.dev/v1", kind: "Policy", metadata: { name }, spec });
}

export function newCompiler(over: Partial<CompilerDeps> = {}) {
  const registry = createRegistry({ processMetrics: false });
  const metrics = new ResilienceMetrics(registry);
  const clock = over.clock instanceof FakeClock ? over.clock : new FakeClock(1000);
  const compiler = new PolicyCompiler({ clock, logger: silentLogger(), metrics, localService: "self", ...over });
  return { compiler, registry, metrics, clock };
}

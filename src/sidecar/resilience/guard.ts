import { type AttemptOutcome, CIRCUIT_OPEN } from "./breaker.ts";
import type { CompiledPolicy } from "./compile.ts";
import type { Overflow } from "./concurrency.ts";
import type { ResilienceMetrics } from "./metrics.ts";

/** An attempt's outcome with the endpoint that produced it, for outlier detection. */
export interface EndpointOutcome extends AttemptOutcome {
  /** The endpoint key the balancer picked (the one `isEjected` is asked about); absent when none was picked. */
  endpoint?: string;
}

export type Guarded<T> = { kind: "done"; outcome: T } | { kind: "open" } | { kind: "overflow"; limit: Overflow };

/**
 * Runs one upstream attempt under a policy's concurrency limits and circuit
 * breaker, and feeds its outcome to outlier detection. Without a policy (or
 * with none of these parts) it only runs the attempt, with no allocation
 * beyond the result.
 */
export async function guardAttempt<T extends EndpointOutcome>(
  policy: CompiledPolicy | undefined,
  attempt: () => Promise<T>,
  metrics: ResilienceMetrics,
): Promise<Guarded<T>> {
  const limits = policy?.limits;
  if (limits !== undefined) {
    const overflow = limits.acquire();
    if (overflow !== undefined) {
      metrics.overflow.labels(policy?.target ?? "", overflow).inc();
      return { kind: "overflow", limit: overflow };
    }
  }
  try {
    const breaker = policy?.breaker;
    const outcome = breaker === undefined ? await attempt() : await breaker.run(attempt);
    if (outcome === CIRCUIT_OPEN) return { kind: "open" };
    const outlier = policy?.outlier;
    if (outlier !== undefined && outcome.endpoint !== undefined) {
      outlier.report(outcome.endpoint, isOutlierFailure(outcome));
    }
    return { kind: "done", outcome };
  } finally {
    limits?.release();
  }
}

/** Outlier detection counts every 5xx and every gateway error (connect failure, reset, timeout). */
export function isOutlierFailure(o: AttemptOutcome): boolean {
  return o.error !== undefined || (o.status !== undefined && o.status >= 500);
}

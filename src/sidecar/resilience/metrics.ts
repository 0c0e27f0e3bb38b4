import { METRIC_PREFIX } from "../../common/metrics.ts";
import { Counter, Gauge, type Registry } from "../../common/prom.ts";

/**
 * The resilience metrics of one sidecar. Labels are bounded by the config:
 * `target` is `service/<name>` or `route/<name>` of a policy, never a request value.
 */
export class ResilienceMetrics {
  readonly breakerState: Gauge<"target">;
  readonly rateLimited: Counter<"target" | "direction">;
  readonly rateLimitQueued: Counter<"target" | "result">;
  readonly globalDegraded: Gauge<"target">;
  readonly globalFallbacks: Counter<"target">;
  readonly overflow: Counter<"target" | "limit">;
  readonly fallbacks: Counter<"trigger" | "kind">;
  readonly ejections: Counter<"service" | "reason">;
  readonly ejected: Gauge<"service">;
  readonly healthChecks: Counter<"service" | "result">;
  readonly policyRejections: Counter;
  #breakers: () => readonly { target: string; state: number }[] = () => [];

  constructor(registry: Registry) {
    const registers = [registry];
    const breakers = (): readonly { target: string; state: number }[] => this.#breakers();
    this.breakerState = new Gauge({
      name: `${METRIC_PREFIX}circuit_breaker_state`,
      help: "Circuit breaker state per policy target: 0 closed, 1 half-open, 2 open",
      labelNames: ["target"],
      registers,
      // Read at scrape time from the breakers in use, so a replaced breaker never leaves a stale series.
      collect() {
        this.reset();
        for (const b of breakers()) this.labels(b.target).set(b.state);
      },
    });
    this.rateLimited = new Counter({
      name: `${METRIC_PREFIX}rate_limited_requests_total`,
      help: "Requests refused with 429 (flag RL) per policy target and direction (outbound, inbound)",
      labelNames: ["target", "direction"],
      registers,
    });
    this.rateLimitQueued = new Counter({
      name: `${METRIC_PREFIX}rate_limit_queued_requests_total`,
      help: "Requests that waited for a token (maxWait), by result: admitted or refused",
      labelNames: ["target", "result"],
      registers,
    });
    this.globalDegraded = new Gauge({
      name: `${METRIC_PREFIX}rate_limit_global_degraded`,
      help: "1 while a global rate limit runs on its local share because Redis is unreachable",
      labelNames: ["target"],
      registers,
    });
    this.globalFallbacks = new Counter({
      name: `${METRIC_PREFIX}rate_limit_global_fallbacks_total`,
      help: "Times a global rate limit fell back to its local share because Redis was unreachable or slow",
      labelNames: ["target"],
      registers,
    });
    this.overflow = new Counter({
      name: `${METRIC_PREFIX}overflow_requests_total`,
      help: "Requests refused with 503 UO by a concurrency limit",
      labelNames: ["target", "limit"],
      registers,
    });
    this.fallbacks = new Counter({
      name: `${METRIC_PREFIX}fallback_responses_total`,
      help: "Responses served by a policy fallback, by trigger and kind",
      labelNames: ["trigger", "kind"],
      registers,
    });
    this.ejections = new Counter({
      name: `${METRIC_PREFIX}outlier_ejections_total`,
      help: "Endpoints ejected by outlier detection",
      labelNames: ["service", "reason"],
      registers,
    });
    this.ejected = new Gauge({
      name: `${METRIC_PREFIX}outlier_ejected_endpoints`,
      help: "Endpoints currently ejected by outlier detection",
      labelNames: ["service"],
      registers,
    });
    this.healthChecks = new Counter({
      name: `${METRIC_PREFIX}health_check_transitions_total`,
      help: "Active health check verdict changes, by result: healthy or unhealthy",
      labelNames: ["service", "result"],
      registers,
    });
    this.policyRejections = new Counter({
      name: `${METRIC_PREFIX}policy_rejections_total`,
      help: "Config snapshots whose policies were rejected (NACKed)",
      registers,
    });
  }

  /** Where the breaker gauge reads its values: the policy set in use. */
  reportBreakers(source: () => readonly { target: string; state: number }[]): void {
    this.#breakers = source;
  }
}

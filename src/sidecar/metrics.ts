import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { METRIC_PREFIX } from "../common/metrics.ts";
import type { Direction } from "./stages/stage.ts";

/** The metric series a forwarded response of one direction and service lands in. */
export interface ForwardedMetrics {
  readonly duration: { observe(seconds: number): void };
  /** By status class, in CLASSES order ("other" last). */
  readonly requests: readonly { inc(): void }[];
}

/** Data-path metrics. Labels are bounded by the config (service names) and fixed sets (flags, status classes). */
export class SidecarMetrics {
  readonly requests: Counter<"direction" | "service" | "code" | "flags">;
  readonly duration: Histogram<"direction" | "service">;
  readonly retries: Counter<"service" | "result">;
  readonly reloads: Counter<"result">;
  readonly faults: Counter<"direction" | "service" | "fault">;
  readonly faultsRefused: Gauge;
  /** prom-client's `labels()` makes a label object and closures on every call: forwarded responses reuse them. */
  readonly #forwarded: Record<Direction, Map<string, ForwardedMetrics>> = { outbound: new Map(), inbound: new Map() };

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: `${METRIC_PREFIX}sidecar_requests_total`,
      help: "Requests handled, by direction, destination service, status class and response flags",
      labelNames: ["direction", "service", "code", "flags"],
      registers,
    });
    this.duration = new Histogram({
      name: `${METRIC_PREFIX}sidecar_request_duration_seconds`,
      help: "Time from request arrival to response headers sent",
      labelNames: ["direction", "service"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.retries = new Counter({
      name: `${METRIC_PREFIX}sidecar_retries_total`,
      help: "Upstream retries, by service and whether the retry budget allowed them",
      labelNames: ["service", "result"],
      registers,
    });
    this.faults = new Counter({
      name: `${METRIC_PREFIX}sidecar_faults_injected_total`,
      help: "Requests a route fault or fault experiment touched, by direction, destination service and fault kind",
      labelNames: ["direction", "service", "fault"],
      registers,
    });
    this.faultsRefused = new Gauge({
      name: `${METRIC_PREFIX}sidecar_faults_refused`,
      help: "Route faults and fault experiments in the running config that --no-faults keeps from being applied",
      registers,
    });
    this.reloads = new Counter({
      name: `${METRIC_PREFIX}sidecar_config_updates_total`,
      help: "Config snapshots applied or rejected",
      labelNames: ["result"],
      registers,
    });
  }

  /** The series of responses forwarded for `service`, made at its first response (services are bounded by the config). */
  forwarded(direction: Direction, service: string): ForwardedMetrics {
    const byService = this.#forwarded[direction];
    let m = byService.get(service);
    if (m === undefined) {
      m = {
        duration: this.duration.labels(direction, service),
        requests: CLASSES.map((code) => this.requests.labels(direction, service, code, "-")),
      };
      byService.set(service, m);
    }
    return m;
  }
}

const CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"] as const;

/** The index of a status's class in CLASSES (and in `ForwardedMetrics.requests`). */
export function statusClassIndex(status: number): number {
  const i = Math.floor(status / 100) - 1;
  return i >= 0 && i < CLASSES.length - 1 ? i : CLASSES.length - 1;
}

export function statusClass(status: number): string {
  return CLASSES[statusClassIndex(status)] as string;
}

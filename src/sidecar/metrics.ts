import { METRIC_PREFIX } from "../common/metrics.ts";
import { Counter, Gauge, type Registry } from "../common/prom.ts";
import type { Direction } from "./stages/stage.ts";
import { CounterFamily, type CounterSeries, HistogramFamily, type HistogramSeries } from "./telemetry/series.ts";

/** The metric series a forwarded response of one direction and service lands in. */
export interface ForwardedMetrics {
  readonly duration: HistogramSeries;
  /** By status class, in CLASSES order ("other" last). */
  readonly requests: readonly CounterSeries[];
}

const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Data-path metrics. Labels are bounded by the config (service names) and fixed sets (flags, status classes).
 * The two per-request families (the deprecated `meshlet_sidecar_requests_total` and
 * `meshlet_sidecar_request_duration_seconds`) are plain-object series rendered at scrape time
 * (telemetry/series.ts), like the request metrics: no prom-client call per request.
 */
export class SidecarMetrics {
  readonly requests: CounterFamily;
  readonly duration: HistogramFamily;
  readonly retries: Counter<"service" | "result">;
  readonly reloads: Counter<"result">;
  readonly faults: Counter<"direction" | "service" | "fault">;
  readonly faultsRefused: Gauge;
  /** Forwarded responses' series, made once per direction and service. */
  readonly #forwarded: Record<Direction, Map<string, ForwardedMetrics>> = { outbound: new Map(), inbound: new Map() };
  /** Every other series (local answers, cancellations), by its label values joined. */
  readonly #requestSeries = new Map<string, CounterSeries>();
  readonly #durationSeries = new Map<string, HistogramSeries>();

  constructor(registry: Registry) {
    const registers = [registry];
    // A series is listed from its first sample on, as prom-client's own would be.
    this.requests = new CounterFamily(
      registry,
      `${METRIC_PREFIX}sidecar_requests_total`,
      "Requests handled, by direction, destination service, status class and response flags",
      true,
    );
    this.duration = new HistogramFamily(
      registry,
      `${METRIC_PREFIX}sidecar_request_duration_seconds`,
      "Time from request arrival to response headers sent",
      DURATION_BUCKETS,
      true,
    );
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
        duration: this.durationSeries(direction, service),
        requests: CLASSES.map((code) => this.requestSeries(direction, service, code, "-")),
      };
      byService.set(service, m);
    }
    return m;
  }

  /** The request counter's series of these labels, made at first use. */
  requestSeries(direction: Direction, service: string, code: string, flags: string): CounterSeries {
    const key = `${direction}\n${service}\n${code}\n${flags}`;
    let s = this.#requestSeries.get(key);
    if (s === undefined) {
      s = this.requests.add({ direction, service, code, flags });
      this.#requestSeries.set(key, s);
    }
    return s;
  }

  /** The duration histogram's series of these labels, made at first use. */
  durationSeries(direction: Direction, service: string): HistogramSeries {
    const key = `${direction}\n${service}`;
    let s = this.#durationSeries.get(key);
    if (s === undefined) {
      s = this.duration.add({ direction, service });
      this.#durationSeries.set(key, s);
    }
    return s;
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

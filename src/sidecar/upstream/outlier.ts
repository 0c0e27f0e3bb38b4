import type { Clock, TimerHandle } from "../../common/clock.ts";

export interface OutlierSpec {
  consecutiveErrors: number;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionPercent: number;
  /** Enables the success-rate test when at least this many endpoints have enough traffic. */
  successRateMinimumHosts?: number;
}

/** Envoy's defaults for the success-rate test: requests per interval to be judged, and the stdev factor. */
export const SUCCESS_RATE_REQUEST_VOLUME = 100;
export const SUCCESS_RATE_STDEV_FACTOR = 1.9;

export type EjectionReason = "consecutive-errors" | "success-rate";

interface HostState {
  consecutive: number;
  ejections: number;
  ejectedUntil: number | undefined;
  timer: TimerHandle | undefined;
  requests: number;
  successes: number;
}

/**
 * Passive outlier detection for one service's endpoints: an endpoint that
 * returns consecutiveErrors 5xx or gateway errors in a row leaves the
 * balancer for baseEjectionTime × (times it has been ejected), never taking
 * more than maxEjectionPercent of the endpoints out, and comes back when the
 * time is up. Each interval without an ejection lowers an endpoint's
 * multiplier by one, as in Envoy. `isEjected` is what the balancer asks,
 * synchronously, per pick.
 */
export class OutlierDetector {
  readonly spec: OutlierSpec;
  readonly #clock: Clock;
  readonly #hosts = new Map<string, HostState>();
  readonly #onEject: (key: string, reason: EjectionReason) => void;
  readonly #onReturn: (key: string) => void;
  #ejectedCount = 0;
  #interval: TimerHandle | undefined;
  #stopped = false;

  constructor(
    spec: OutlierSpec,
    clock: Clock,
    hooks: { onEject?: (key: string, reason: EjectionReason) => void; onReturn?: (key: string) => void } = {},
  ) {
    this.spec = spec;
    this.#clock = clock;
    this.#onEject = hooks.onEject ?? (() => {});
    this.#onReturn = hooks.onReturn ?? (() => {});
    this.#scheduleInterval();
  }

  /** The endpoint set changed: keep what is known about endpoints that stay. */
  setEndpoints(keys: Iterable<string>): void {
    const keep = new Set(keys);
    for (const [key, host] of this.#hosts) {
      if (keep.has(key)) continue;
      if (host.timer !== undefined) this.#clock.clearTimeout(host.timer);
      if (host.ejectedUntil !== undefined) this.#ejectedCount--;
      this.#hosts.delete(key);
    }
    for (const key of keep) if (!this.#hosts.has(key)) this.#hosts.set(key, newHost());
  }

  /** Records one response (or gateway error: 502/503/504 stand for connect failure, reset, timeout). */
  report(key: string, failed: boolean): void {
    const host = this.#hosts.get(key);
    if (host === undefined) return;
    host.requests++;
    if (!failed) {
      host.successes++;
      host.consecutive = 0;
      return;
    }
    host.consecutive++;
    if (host.consecutive >= this.spec.consecutiveErrors && host.ejectedUntil === undefined) {
      this.#eject(key, host, "consecutive-errors");
    }
  }

  isEjected(key: string): boolean {
    return this.#hosts.get(key)?.ejectedUntil !== undefined;
  }

  ejected(): string[] {
    const out: string[] = [];
    for (const [key, host] of this.#hosts) if (host.ejectedUntil !== undefined) out.push(key);
    return out;
  }

  /** For `/endpoints`: when an ejected endpoint returns (clock ms), and how often it has been ejected. */
  describe(key: string): { ejected: boolean; ejectedUntil?: number; ejections: number } | undefined {
    const host = this.#hosts.get(key);
    if (host === undefined) return undefined;
    return host.ejectedUntil === undefined
      ? { ejected: false, ejections: host.ejections }
      : { ejected: true, ejectedUntil: host.ejectedUntil, ejections: host.ejections };
  }

  stop(): void {
    this.#stopped = true;
    if (this.#interval !== undefined) this.#clock.clearTimeout(this.#interval);
    for (const host of this.#hosts.values()) if (host.timer !== undefined) this.#clock.clearTimeout(host.timer);
  }

  #mayEject(): boolean {
    const total = this.#hosts.size;
    return total > 0 && ((this.#ejectedCount + 1) * 100) / total <= this.spec.maxEjectionPercent;
  }

  #eject(key: string, host: HostState, reason: EjectionReason): void {
    if (!this.#mayEject()) return;
    host.ejections++;
    host.consecutive = 0;
    const duration = this.spec.baseEjectionTimeMs * host.ejections;
    host.ejectedUntil = this.#clock.now() + duration;
    this.#ejectedCount++;
    host.timer = this.#clock.setTimeout(() => this.#return(key, host), duration);
    this.#onEject(key, reason);
  }

  #return(key: string, host: HostState): void {
    if (this.#hosts.get(key) !== host || host.ejectedUntil === undefined) return;
    host.ejectedUntil = undefined;
    host.timer = undefined;
    this.#ejectedCount--;
    this.#onReturn(key);
  }

  #scheduleInterval(): void {
    if (this.#stopped) return;
    this.#interval = this.#clock.setTimeout(() => {
      this.#onInterval();
      this.#scheduleInterval();
    }, this.spec.intervalMs);
  }

  #onInterval(): void {
    const min = this.spec.successRateMinimumHosts;
    if (min !== undefined) this.#successRateTest(min);
    for (const host of this.#hosts.values()) {
      if (host.ejectedUntil === undefined && host.ejections > 0 && host.consecutive === 0) host.ejections--;
      host.requests = 0;
      host.successes = 0;
    }
  }

  #successRateTest(minimumHosts: number): void {
    const judged: [string, HostState, number][] = [];
    for (const [key, host] of this.#hosts) {
      if (host.ejectedUntil === undefined && host.requests >= SUCCESS_RATE_REQUEST_VOLUME) {
        judged.push([key, host, host.successes / host.requests]);
      }
    }
    if (judged.length < minimumHosts) return;
    const mean = judged.reduce((s, [, , r]) => s + r, 0) / judged.length;
    const variance = judged.reduce((s, [, , r]) => s + (r - mean) ** 2, 0) / judged.length;
    const floor = mean - SUCCESS_RATE_STDEV_FACTOR * Math.sqrt(variance);
    for (const [key, host, rate] of judged) if (rate < floor) this.#eject(key, host, "success-rate");
  }
}

function newHost(): HostState {
  return { consecutive: 0, ejections: 0, ejectedUntil: undefined, timer: undefined, requests: 0, successes: 0 };
}

import type { Clock, TimerHandle } from "../../common/clock.ts";
import { RollingCounts } from "./rolling-counts.ts";

export const BREAKER_CLOSED = 0;
export const BREAKER_HALF_OPEN = 1;
export const BREAKER_OPEN = 2;
/** The metric value and the `/endpoints` view: 0 closed, 1 half-open, 2 open. */
export type BreakerState = typeof BREAKER_CLOSED | typeof BREAKER_HALF_OPEN | typeof BREAKER_OPEN;

export const BREAKER_STATE_NAMES = ["closed", "half-open", "open"] as const;

/** How an upstream attempt ended, as far as the breaker cares. */
export interface AttemptOutcome {
  /** Response status when the upstream answered. */
  status?: number;
  /** Set when it did not: a connect failure, reset or timeout (UF, UR, UT). */
  error?: "connect" | "reset" | "timeout";
}

export interface BreakerSpec {
  errorThresholdPercentage: number;
  volumeThreshold: number;
  rollingWindowMs: number;
  resetTimeoutMs: number;
  /** Statuses that count as failures; everything else that answered is a success. */
  failureStatuses: ReadonlySet<number>;
}

/** Every 5xx except 501 (Not Implemented says nothing about the upstream's health). */
export function defaultFailureStatuses(): Set<number> {
  const set = new Set<number>();
  for (let s = 500; s <= 599; s++) if (s !== 501) set.add(s);
  return set;
}

/** Returned instead of running the attempt when the breaker is open (or its half-open probe is taken). */
export const CIRCUIT_OPEN: unique symbol = Symbol("circuit-open");

function isFailure(outcome: AttemptOutcome, statuses: ReadonlySet<number>): boolean {
  return outcome.error !== undefined || (outcome.status !== undefined && statuses.has(outcome.status));
}

/** The rolling window's slot count: a slot rolls off every window/10, as before with opossum. */
const ROLLING_BUCKETS = 10;

/**
 * An error-rate circuit breaker per destination: a rolling window of
 * attempts; once at least volumeThreshold attempts were seen in it and the
 * failure percentage exceeds the threshold, it opens for resetTimeout, then
 * lets one probe through (half-open) whose result closes or reopens it.
 * Timeouts are the route's job (they arrive as an outcome). The behaviour of
 * opossum, which this replaces on the hot path (docs/resilience.md), with two
 * differences: attempts refused while open do not count in the window, and
 * closing starts a fresh window (as Hystrix), so failures from before the
 * outage cannot reopen it at once. Time comes from the injected clock; the
 * only timer is the one that half-opens it.
 */
export class Breaker {
  readonly name: string;
  readonly spec: BreakerSpec;
  readonly #clock: Clock;
  readonly #window: RollingCounts;
  readonly #listeners = new Set<(state: BreakerState) => void>();
  #state: BreakerState = BREAKER_CLOSED;
  #probing = false;
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(name: string, spec: BreakerSpec, clock: Clock) {
    this.name = name;
    this.spec = spec;
    this.#clock = clock;
    this.#window = new RollingCounts(spec.rollingWindowMs, ROLLING_BUCKETS);
  }

  /**
   * Runs one upstream attempt through the breaker; CIRCUIT_OPEN when refused.
   * A failed outcome is returned (not thrown) after it has been counted; an
   * exception of the attempt counts as a failure and is rethrown.
   */
  async run<T extends AttemptOutcome>(attempt: () => Promise<T>): Promise<T | typeof CIRCUIT_OPEN> {
    // A request that started on a snapshot whose breaker was since replaced finishes unguarded.
    if (this.#stopped) return attempt();
    let probe = false;
    if (this.#state === BREAKER_OPEN) return CIRCUIT_OPEN;
    if (this.#state === BREAKER_HALF_OPEN) {
      if (this.#probing) return CIRCUIT_OPEN;
      this.#probing = probe = true;
    }
    let outcome: T;
    try {
      outcome = await attempt();
    } catch (err) {
      this.#settle(true, probe);
      throw err;
    }
    this.#settle(isFailure(outcome, this.spec.failureStatuses), probe);
    return outcome;
  }

  get state(): BreakerState {
    return this.#state;
  }

  onStateChange(fn: (state: BreakerState) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Stops the half-open timer; attempts still running or started later go unguarded. */
  shutdown(): void {
    this.#stopped = true;
    this.#listeners.clear();
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #settle(failed: boolean, probe: boolean): void {
    if (this.#stopped) return;
    if (probe) {
      this.#probing = false;
      if (failed) this.#open();
      else this.#close();
      return;
    }
    const now = this.#clock.now();
    this.#window.record(failed, now);
    // Attempts that started before the breaker opened still count, but only a closed breaker opens on them.
    if (!failed || this.#state !== BREAKER_CLOSED) return;
    const { attempts, failures } = this.#window.totals(now);
    if (attempts >= this.spec.volumeThreshold && failures * 100 > this.spec.errorThresholdPercentage * attempts)
      this.#open();
  }

  #open(): void {
    this.#set(BREAKER_OPEN);
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#set(BREAKER_HALF_OPEN);
    }, this.spec.resetTimeoutMs);
  }

  #close(): void {
    this.#window.reset();
    this.#set(BREAKER_CLOSED);
  }

  #set(state: BreakerState): void {
    if (state === this.#state) return;
    this.#state = state;
    for (const fn of this.#listeners) fn(state);
  }
}

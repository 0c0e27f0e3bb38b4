import CircuitBreaker from "opossum";
import { errorCode } from "../../common/errors.ts";

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

/** Carries a failed outcome through opossum's rejection path so it counts, then hands it back. */
class FailedAttempt<T> {
  readonly outcome: T;
  constructor(outcome: T) {
    this.outcome = outcome;
  }
}

function isFailure(outcome: AttemptOutcome, statuses: ReadonlySet<number>): boolean {
  return outcome.error !== undefined || (outcome.status !== undefined && statuses.has(outcome.status));
}

/** Opossum's rolling window needs a bucket count that divides it. */
const ROLLING_BUCKETS = 10;

/**
 * An error-rate circuit breaker per destination (opossum): a rolling window
 * of attempts; once at least volumeThreshold attempts were seen in it and the
 * failure percentage exceeds the threshold, it opens for resetTimeout, then
 * lets one probe through (half-open) whose result closes or reopens it.
 * Timeouts are the route's job (they arrive as an outcome), so opossum's own
 * timer is off.
 */
export class Breaker {
  readonly name: string;
  readonly spec: BreakerSpec;
  readonly #cb: CircuitBreaker<[() => Promise<AttemptOutcome>], AttemptOutcome>;
  #state: BreakerState = BREAKER_CLOSED;
  readonly #listeners = new Set<(state: BreakerState) => void>();

  constructor(name: string, spec: BreakerSpec) {
    this.name = name;
    this.spec = spec;
    const statuses = spec.failureStatuses;
    const action = (attempt: () => Promise<AttemptOutcome>): Promise<AttemptOutcome> =>
      attempt().then((o) => (isFailure(o, statuses) ? Promise.reject(new FailedAttempt(o)) : o));
    this.#cb = new CircuitBreaker(action, {
      name,
      timeout: false,
      errorThresholdPercentage: spec.errorThresholdPercentage,
      volumeThreshold: spec.volumeThreshold,
      resetTimeout: spec.resetTimeoutMs,
      rollingCountTimeout: spec.rollingWindowMs,
      rollingCountBuckets: ROLLING_BUCKETS,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
    });
    this.#cb.on("open", () => this.#set(BREAKER_OPEN));
    this.#cb.on("halfOpen", () => this.#set(BREAKER_HALF_OPEN));
    this.#cb.on("close", () => this.#set(BREAKER_CLOSED));
  }

  /**
   * Runs one upstream attempt through the breaker; CIRCUIT_OPEN when refused.
   * A failed outcome is returned (not thrown) after it has been counted.
   */
  async run<T extends AttemptOutcome>(attempt: () => Promise<T>): Promise<T | typeof CIRCUIT_OPEN> {
    try {
      return (await this.#cb.fire(attempt)) as T;
    } catch (err) {
      if (err instanceof FailedAttempt) return err.outcome as T;
      if (isOpenRejection(err)) return CIRCUIT_OPEN;
      // A request that started on a snapshot whose breaker was since replaced finishes unguarded.
      if (errorCode(err) === "ESHUTDOWN") return attempt();
      throw err;
    }
  }

  get state(): BreakerState {
    return this.#state;
  }

  onStateChange(fn: (state: BreakerState) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Stops opossum's window timer; the breaker must not be used afterwards. */
  shutdown(): void {
    this.#listeners.clear();
    this.#cb.shutdown();
  }

  #set(state: BreakerState): void {
    if (state === this.#state) return;
    this.#state = state;
    for (const fn of this.#listeners) fn(state);
  }
}

function isOpenRejection(err: unknown): boolean {
  return err instanceof Error && "code" in err && (err.code === "EOPENBREAKER" || err.code === "ESEMLOCKED");
}

/**
 * A token bucket in GCRA form (generic cell rate algorithm): the whole state
 * is one number, the theoretical arrival time, so a per-key table holds one
 * small object per key and a check is a few float operations with no timer.
 * Time comes in as an argument (milliseconds from a Clock) so tests drive it.
 */
export interface BucketState {
  /** Theoretical arrival time of the next request, ms. */
  tat: number;
}

export interface BucketStatus {
  /** Tokens left after this decision. */
  remaining: number;
  /** Milliseconds until the bucket is full again. */
  resetMs: number;
  /** Milliseconds until one token is available; 0 when admitted. */
  retryAfterMs: number;
}

export class TokenBucket {
  readonly ratePerSecond: number;
  readonly capacity: number;
  /** Milliseconds per token. */
  readonly #interval: number;
  /** How far ahead of now the arrival time may run: the burst allowance. */
  readonly #tolerance: number;

  constructor(ratePerSecond: number, capacity: number) {
    if (!(Number.isFinite(ratePerSecond) && ratePerSecond > 0)) {
      throw new RangeError(`rate must be a positive finite number, got ${ratePerSecond}`);
    }
    if (!(Number.isInteger(capacity) && capacity >= 1)) {
      throw new RangeError(`capacity must be an integer >= 1, got ${capacity}`);
    }
    this.ratePerSecond = ratePerSecond;
    this.capacity = capacity;
    this.#interval = 1000 / ratePerSecond;
    this.#tolerance = this.#interval * (capacity - 1);
  }

  /** A full bucket. */
  newState(now: number): BucketState {
    return { tat: now };
  }

  /** Takes one token if there is one. */
  tryTake(state: BucketState, now: number): boolean {
    const tat = state.tat > now ? state.tat : now;
    if (tat - now > this.#tolerance) return false;
    state.tat = tat + this.#interval;
    return true;
  }

  /**
   * Reserves the next token if it becomes available within maxWaitMs, and
   * returns how long the caller must wait for it; undefined leaves the state
   * untouched. Reservations are taken in call order, so waiters stay FIFO.
   */
  reserve(state: BucketState, now: number, maxWaitMs: number): number | undefined {
    const tat = state.tat > now ? state.tat : now;
    const wait = tat - now - this.#tolerance;
    if (wait > maxWaitMs) return undefined;
    state.tat = tat + this.#interval;
    return wait > 0 ? wait : 0;
  }

  status(state: BucketState, now: number): BucketStatus {
    const ahead = state.tat > now ? state.tat - now : 0;
    // The epsilon keeps float rounding (1000 / 3 ms per token) from hiding a whole token.
    const remaining = Math.max(0, Math.floor((this.#tolerance + this.#interval - ahead) / this.#interval + 1e-9));
    const retryAfterMs = Math.max(0, ahead - this.#tolerance);
    return { remaining, resetMs: ahead, retryAfterMs };
  }
}

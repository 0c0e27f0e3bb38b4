/**
 * Successes and failures over the last `windowMs`, in `buckets` slots (as
 * Hystrix and opossum count): a slot covers windowMs/buckets, and a slot
 * whose time has passed is cleared when it is next written, so there is no
 * timer. Reading the totals walks the slots; recording is O(1).
 */
/** The epoch of a slot never written: always outside the window. */
const NEVER = Number.NEGATIVE_INFINITY;

export class RollingCounts {
  readonly #bucketMs: number;
  readonly #epochs: Float64Array;
  readonly #successes: Uint32Array;
  readonly #failures: Uint32Array;

  constructor(windowMs: number, buckets: number) {
    this.#bucketMs = Math.max(1, windowMs / buckets);
    this.#epochs = new Float64Array(buckets).fill(NEVER);
    this.#successes = new Uint32Array(buckets);
    this.#failures = new Uint32Array(buckets);
  }

  record(failed: boolean, now: number): void {
    const epoch = Math.floor(now / this.#bucketMs);
    const i = epoch % this.#epochs.length;
    if (this.#epochs[i] !== epoch) {
      this.#epochs[i] = epoch;
      this.#successes[i] = 0;
      this.#failures[i] = 0;
    }
    if (failed) (this.#failures[i] as number)++;
    else (this.#successes[i] as number)++;
  }

  /** Attempts and failures in the slots still inside the window at `now`. */
  totals(now: number): { attempts: number; failures: number } {
    const current = Math.floor(now / this.#bucketMs);
    let attempts = 0;
    let failures = 0;
    for (let i = 0; i < this.#epochs.length; i++) {
      if (current - (this.#epochs[i] as number) >= this.#epochs.length) continue;
      attempts += (this.#successes[i] as number) + (this.#failures[i] as number);
      failures += this.#failures[i] as number;
    }
    return { attempts, failures };
  }

  reset(): void {
    this.#epochs.fill(NEVER);
  }
}

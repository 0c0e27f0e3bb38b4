import { LRUCache } from "lru-cache";
import type { Clock } from "../../common/clock.ts";
import type { BucketState, BucketStatus, TokenBucket } from "./token-bucket.ts";

/**
 * One token bucket per key (an API key, a calling service), at most maxKeys
 * of them: the least recently seen key is forgotten first, and a forgotten
 * key comes back with a full bucket. Without a key every request shares one.
 */
export class KeyedLimiter {
  readonly bucket: TokenBucket;
  readonly #clock: Clock;
  readonly #states: LRUCache<string, BucketState>;

  constructor(bucket: TokenBucket, maxKeys: number, clock: Clock) {
    this.bucket = bucket;
    this.#clock = clock;
    this.#states = new LRUCache({ max: maxKeys });
  }

  tryTake(key: string): boolean {
    const now = this.#clock.now();
    return this.bucket.tryTake(this.#state(key, now), now);
  }

  reserve(key: string, maxWaitMs: number): number | undefined {
    const now = this.#clock.now();
    return this.bucket.reserve(this.#state(key, now), now, maxWaitMs);
  }

  status(key: string): BucketStatus {
    const now = this.#clock.now();
    return this.bucket.status(this.#state(key, now), now);
  }

  get trackedKeys(): number {
    return this.#states.size;
  }

  #state(key: string, now: number): BucketState {
    let state = this.#states.get(key);
    if (state === undefined) {
      state = this.bucket.newState(now);
      this.#states.set(key, state);
    }
    return state;
  }
}

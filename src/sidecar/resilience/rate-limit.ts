import type { GlobalReservoir } from "./global-reservoir.ts";
import type { KeyedLimiter } from "./keyed-limiter.ts";
import type { WaitQueue } from "./wait-queue.ts";

/** Which side of the sidecar a limit protects: calls the app makes, or calls to the app. */
export type Direction = "outbound" | "inbound";

/** What a request's bucket is chosen by: a header (lower-case name) or the calling service; undefined = one bucket. */
export type RateLimitKey = { header: string } | { sourceService: true } | undefined;

/** What a refused request is told (429 headers). */
export interface RateLimitRefusal {
  /** x-ratelimit-limit: requests per second. */
  limit: number;
  /** x-ratelimit-remaining */
  remaining: number;
  /** x-ratelimit-reset: seconds until the bucket is full again. */
  resetSeconds: number;
  /** Retry-After: whole seconds, at least 1. */
  retryAfterSeconds: number;
}

/** Where the tokens come from: this sidecar's buckets, or the cluster-wide budget. */
type Source = { kind: "local"; limiter: KeyedLimiter } | { kind: "global"; reservoir: GlobalReservoir };

/**
 * A rate limit as the data path uses it: `admit()` is the synchronous hot
 * path; only a refused request with a maxWait goes on to `wait()`.
 */
export class RateLimit {
  readonly ratePerSecond: number;
  readonly keyed: boolean;
  readonly maxWaitMs: number | undefined;
  readonly #source: Source;
  readonly #queue: WaitQueue | undefined;

  constructor(opts: {
    ratePerSecond: number;
    keyed: boolean;
    source: Source;
    queue?: { queue: WaitQueue; maxWaitMs: number };
  }) {
    this.ratePerSecond = opts.ratePerSecond;
    this.keyed = opts.keyed;
    this.#source = opts.source;
    this.#queue = opts.queue?.queue;
    this.maxWaitMs = opts.queue?.maxWaitMs;
  }

  admit(key: string): boolean {
    return this.#source.kind === "local" ? this.#source.limiter.tryTake(key) : this.#source.reservoir.tryTake();
  }

  /** Resolves true when a token came within maxWait; false at once without a queue or when it is full. */
  wait(key: string): Promise<boolean> {
    const queue = this.#queue;
    const maxWaitMs = this.maxWaitMs;
    if (queue === undefined || maxWaitMs === undefined) return Promise.resolve(false);
    const source = this.#source;
    if (source.kind === "local") return queue.wait(maxWaitMs, (remaining) => source.limiter.reserve(key, remaining));
    return queue.wait(maxWaitMs, () => (source.reservoir.tryTake() ? 0 : "poll"));
  }

  refusal(key: string): RateLimitRefusal {
    if (this.#source.kind === "local") {
      const s = this.#source.limiter.status(key);
      return {
        limit: this.ratePerSecond,
        remaining: s.remaining,
        resetSeconds: Math.ceil(s.resetMs / 1000),
        retryAfterSeconds: Math.max(1, Math.ceil(s.retryAfterMs / 1000)),
      };
    }
    const retry = this.#source.reservoir.retryAfterMs();
    return {
      limit: this.ratePerSecond,
      remaining: 0,
      resetSeconds: Math.max(1, Math.ceil(retry / 1000)),
      retryAfterSeconds: Math.max(1, Math.ceil(retry / 1000)),
    };
  }
}

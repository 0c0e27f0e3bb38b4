import type Bottleneck from "bottleneck";
import type { Clock } from "../../common/clock.ts";

export type Reserve = (remainingMs: number) => number | "poll" | undefined;

/** How long a waiter sleeps before looking again for a token that arrives in the background. */
const POLL_MS = 10;

let loading: Promise<typeof Bottleneck> | undefined;

/** bottleneck is loaded by the first queue a snapshot asks for (a rate limit with maxWait), not at sidecar start. */
function loadBottleneck(): Promise<typeof Bottleneck> {
  loading ??= import("bottleneck").then((m) => m.default);
  return loading;
}

/**
 * The bounded FIFO where a request that found no token may wait up to
 * maxWait. Only requests that were already refused a token come here, so
 * bottleneck's per-job cost (milliseconds) never touches an admitted request.
 * One waiter is served at a time, in arrival order; queueSize bounds how
 * many wait, and one more is refused at once (bottleneck's OVERFLOW).
 */
export class WaitQueue {
  readonly #limiter: Promise<Bottleneck>;
  readonly #clock: Clock;

  constructor(queueSize: number, clock: Clock) {
    this.#clock = clock;
    this.#limiter = loadBottleneck().then((B) => {
      const limiter = new B({ maxConcurrent: 1, highWater: queueSize, strategy: B.strategy.OVERFLOW });
      // Dropped jobs reject their own promise; without a listener bottleneck also reports them as errors.
      limiter.on("error", () => {});
      return limiter;
    });
    // A failed load refuses each waiter (wait() resolves false); it is no unhandled rejection.
    this.#limiter.catch(() => {});
  }

  /**
   * Waits for a token. `reserve(remainingMs)` reserves one and says how long
   * until it is usable, undefined when it cannot come in time, or "poll" to
   * be asked again a little later (tokens that arrive in the background).
   * Resolves true once the token is usable, false when refused.
   */
  async wait(maxWaitMs: number, reserve: Reserve): Promise<boolean> {
    const deadline = this.#clock.now() + maxWaitMs;
    try {
      const limiter = await this.#limiter;
      return await limiter.schedule(
        () =>
          new Promise<boolean>((resolve) => {
            const attempt = (): void => {
              const remaining = deadline - this.#clock.now();
              const delay = remaining >= 0 ? reserve(remaining) : undefined;
              if (delay === undefined) resolve(false);
              else if (delay === "poll") this.#clock.setTimeout(attempt, POLL_MS);
              else if (delay === 0) resolve(true);
              else this.#clock.setTimeout(() => resolve(true), delay);
            };
            attempt();
          }),
      );
    } catch {
      return false;
    }
  }

  stop(): void {
    void this.#limiter.then((l) => l.stop({ dropWaitingJobs: true })).catch(() => {});
  }
}

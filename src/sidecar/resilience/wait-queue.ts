import Bottleneck from "bottleneck";
import type { Clock } from "../../common/clock.ts";

export type Reserve = (remainingMs: number) => number | "poll" | undefined;

/** How long a waiter sleeps before looking again for a token that arrives in the background. */
const POLL_MS = 10;

/**
 * The bounded FIFO where a request that found no token may wait up to
 * maxWait. Only requests that were already refused a token come here, so
 * bottleneck's per-job cost (milliseconds) never touches an admitted request.
 * One waiter is served at a time, in arrival order; queueSize bounds how
 * many wait, and one more is refused at once (bottleneck's OVERFLOW).
 */
export class WaitQueue {
  readonly #limiter: Bottleneck;
  readonly #clock: Clock;

  constructor(queueSize: number, clock: Clock) {
    this.#clock = clock;
    this.#limiter = new Bottleneck({
      maxConcurrent: 1,
      highWater: queueSize,
      strategy: Bottleneck.strategy.OVERFLOW,
    });
    // Dropped jobs reject their own promise; without a listener bottleneck also reports them as errors.
    this.#limiter.on("error", () => {});
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
      return await this.#limiter.schedule(
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

  get waiting(): number {
    return this.#limiter.counts().QUEUED + this.#limiter.counts().RUNNING;
  }

  stop(): void {
    void this.#limiter.stop({ dropWaitingJobs: true }).catch(() => {});
  }
}

import type { Clock, TimerHandle } from "../common/clock.ts";

/**
 * A periodic sweep that proposes at most one Raft entry at a time: while a
 * proposal is in flight no sweep runs, so a slow quorum cannot pile up
 * duplicates, and a failed one is simply made again at the next sweep if
 * still due. `sweep` returns the proposal it made, or undefined when nothing
 * was due (or this node does not lead).
 */
export class LeaderSweep {
  readonly #clock: Clock;
  readonly #periodMs: number;
  readonly #sweep: () => Promise<unknown> | undefined;
  #timer: TimerHandle | undefined;
  #inFlight = false;
  #running = false;

  constructor(clock: Clock, periodMs: number, sweep: () => Promise<unknown> | undefined) {
    this.#clock = clock;
    this.#periodMs = periodMs;
    this.#sweep = sweep;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** One sweep now (the timer calls it; tests may too). */
  run(): void {
    if (this.#inFlight) return;
    const proposal = this.#sweep();
    if (proposal === undefined) return;
    this.#inFlight = true;
    // The sweep handles its own outcome; this only ends the in-flight window.
    proposal
      .catch(() => {})
      .finally(() => {
        this.#inFlight = false;
      });
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.run();
      this.#schedule();
    }, this.#periodMs);
  }
}

import type { Clock, TimerHandle } from "../../common/clock.ts";

/** What the queue pushes: a session with changes waiting. */
export interface Pushable {
  /** Sends whatever the sidecar should see now (or nothing if that was sent already). */
  flush(): void;
}

export interface PushQueueOptions {
  clock: Clock;
  /** The shortest time between the starts of two push rounds. */
  debounceMs: number;
  /** Sessions pushed before the queue yields to the event loop. */
  batch?: number;
  /** Runs `fn` after pending I/O (setImmediate); tests pass a synchronous one. */
  defer?: (fn: () => void) => void;
}

const DEFAULT_BATCH = 64;

/**
 * Coalesces changes for every stream of a node. A change after a quiet
 * window is pushed at once (after the I/O already queued, so changes applied
 * together share a round); a change within `debounceMs` of the last round's
 * start waits for the window to end, so a burst of writes costs one round
 * per window however long it lasts. A round pushes the waiting sessions in
 * batches, and between batches the event loop runs, so the first snapshots
 * reach the wire (and ACKs are read) while the rest are built, instead of a
 * node with 1,000 streams building and queueing them all in one callback
 * before the first byte leaves.
 */
export class PushQueue {
  readonly #o: Required<PushQueueOptions>;
  #waiting = new Set<Pushable>();
  #timer: TimerHandle | undefined;
  #armed = false;
  #draining = false;
  #lastRound = Number.NEGATIVE_INFINITY;

  constructor(options: PushQueueOptions) {
    this.#o = { batch: DEFAULT_BATCH, defer: (fn) => setImmediate(fn), ...options };
  }

  schedule(session: Pushable): void {
    this.#waiting.add(session);
    if (this.#armed || this.#draining) return;
    this.#armed = true;
    const wait = this.#lastRound + this.#o.debounceMs - this.#o.clock.now();
    if (wait <= 0) this.#o.defer(() => this.#round());
    else this.#timer = this.#o.clock.setTimeout(() => this.#round(), wait);
  }

  /** A closed session is not pushed. */
  remove(session: Pushable): void {
    this.#waiting.delete(session);
  }

  close(): void {
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waiting.clear();
  }

  #round(): void {
    this.#timer = undefined;
    this.#armed = false;
    this.#lastRound = this.#o.clock.now();
    this.#drain();
  }

  #drain(): void {
    this.#draining = true;
    let n = 0;
    for (const session of this.#waiting) {
      if (n === this.#o.batch) {
        this.#o.defer(() => this.#drain());
        return;
      }
      this.#waiting.delete(session);
      session.flush();
      n++;
    }
    this.#draining = false;
  }
}

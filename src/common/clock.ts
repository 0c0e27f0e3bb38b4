/**
 * Time as a dependency: modules that need "now" or a timer take a Clock, so
 * tests can drive time by hand with FakeClock instead of sleeping.
 */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

declare const timerBrand: unique symbol;
/** Opaque: only the clock that made it can clear it. */
export interface TimerHandle {
  readonly [timerBrand]: true;
}

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
}

/** The process clock. A handle is Node's own Timeout (unref'd: a pending timer never keeps a process alive). */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    return setTimeout(fn, ms).unref() as unknown as TimerHandle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as unknown as NodeJS.Timeout);
  },
};

export class FakeClock implements Clock {
  #now: number;
  #timers: FakeTimer[] = [];
  #nextId = 1;

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { id: this.#nextId++, at: this.#now + Math.max(0, ms), fn };
    this.#timers.push(timer);
    return timer as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    const id = (handle as unknown as FakeTimer).id;
    this.#timers = this.#timers.filter((t) => t.id !== id);
  }

  /** Moves time forward, firing due timers in deadline order (ties in creation order). */
  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const t of this.#timers) {
        if (t.at <= until && (next === undefined || t.at < next.at)) next = t;
      }
      if (next === undefined) break;
      const due = next;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = due.at;
      due.fn();
    }
    this.#now = until;
  }

  pendingTimers(): number {
    return this.#timers.length;
  }
}

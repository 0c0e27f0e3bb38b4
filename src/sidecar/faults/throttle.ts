import type { Clock, TimerHandle } from "../../common/clock.ts";
import type { ResponseSink } from "../engine/exchange.ts";

/** How often a throttled body sends its next slice: fine enough for a steady rate, coarse enough to cost little. */
export const THROTTLE_TICK_MS = 100;

/**
 * A response body paced to `bytesPerSecond` (a `bandwidth` fault): every
 * tick sends one slice of rate x tick bytes. `write` always answers false,
 * so the upstream exchange pauses its socket and waits for `onDrain`, which
 * fires once the queue is sent: memory stays at one upstream read.
 */
export class ThrottledSink implements ResponseSink {
  readonly #res: ResponseSink;
  readonly #clock: Clock;
  readonly #slice: number;
  #queue: Buffer[] = [];
  #drain: (() => void) | undefined;
  #timer: TimerHandle | undefined;
  #end: { trailers: string } | undefined;
  #destroyed = false;
  /** Bytes this tick may still send. */
  #room: number;

  constructor(res: ResponseSink, bytesPerSecond: number, clock: Clock) {
    this.#res = res;
    this.#clock = clock;
    this.#slice = Math.max(1, Math.floor((bytesPerSecond * THROTTLE_TICK_MS) / 1000));
    this.#room = this.#slice;
  }

  write(chunk: Buffer): boolean {
    if (chunk.length > 0) this.#queue.push(chunk);
    this.#pump();
    return false;
  }

  onDrain(fn: () => void): void {
    this.#drain = fn;
  }

  end(chunk?: Buffer, trailers = ""): void {
    if (chunk !== undefined && chunk.length > 0) this.#queue.push(chunk);
    this.#end = { trailers };
    this.#pump();
  }

  destroy(): void {
    this.#destroyed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
    this.#res.destroy();
  }

  #pump(): void {
    if (this.#destroyed) return;
    while (this.#room > 0 && this.#queue.length > 0) {
      const head = this.#queue[0] as Buffer;
      if (head.length <= this.#room) {
        this.#queue.shift();
        this.#res.write(head);
        this.#room -= head.length;
      } else {
        this.#res.write(head.subarray(0, this.#room));
        this.#queue[0] = head.subarray(this.#room);
        this.#room = 0;
      }
    }
    // A tick that sent anything refills the budget only when the next one starts.
    if (this.#timer === undefined && this.#room < this.#slice) {
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = undefined;
        this.#room = this.#slice;
        this.#pump();
      }, THROTTLE_TICK_MS);
    }
    if (this.#queue.length > 0) return;
    if (this.#end !== undefined) {
      if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#res.end(undefined, this.#end.trailers);
      return;
    }
    const drain = this.#drain;
    this.#drain = undefined;
    drain?.();
  }
}

import type { Message, NodeId } from "../../src/raft/types.ts";
import type { Rng } from "./rng.ts";

export interface Faults {
  drop: number;
  duplicate: number;
  /** Probability that a message takes a long detour (reordering across many ticks). */
  longDelay: number;
  maxDelay: number;
  /** Deliver the messages due in one tick in random order (else FIFO, like a TCP stream per link). */
  reorder: boolean;
}

export const CALM: Faults = { drop: 0, duplicate: 0, longDelay: 0, maxDelay: 1, reorder: false };

interface InFlight {
  at: number;
  m: Message;
}

/** A network that drops, delays, duplicates and reorders messages, with symmetric and one-way partitions. */
export class Network {
  #queue: InFlight[] = [];
  /** "a>b": messages from a to b are lost. */
  blocked = new Set<string>();
  faults: Faults = CALM;
  readonly #rng: Rng;

  constructor(rng: Rng) {
    this.#rng = rng;
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.blocked.has(`${from}>${to}`);
  }

  /** Returns false when the message is lost at once. */
  send(m: Message, now: number): boolean {
    const f = this.faults;
    if (this.#rng.chance(f.drop)) return false;
    const copies = this.#rng.chance(f.duplicate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = this.#rng.chance(f.longDelay) ? 1 + this.#rng.intn(20) : 1 + this.#rng.intn(f.maxDelay);
      this.#queue.push({ at: now + delay, m });
    }
    return true;
  }

  /** Messages due by `now`, in random order. */
  due(now: number): Message[] {
    const out: Message[] = [];
    const keep: InFlight[] = [];
    for (const x of this.#queue) {
      if (x.at <= now) out.push(x.m);
      else keep.push(x);
    }
    this.#queue = keep;
    return this.faults.reorder ? this.#rng.shuffle(out) : out;
  }

  partition(groups: NodeId[][]): void {
    this.blocked.clear();
    for (const a of groups)
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.blocked.add(`${x}>${y}`);
      }
  }

  heal(): void {
    this.blocked.clear();
  }
}

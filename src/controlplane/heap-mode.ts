import { setFlagsFromString } from "node:v8";

/** At or above this many keys a node favors memory; below the lower mark it favors speed again. */
export const COMPACT_FROM_KEYS = 20_000;
export const FAST_BELOW_KEYS = 10_000;

/**
 * V8's default heap sizing keeps about three times a node's live data
 * committed: 300+ MB RSS with 100,000 keys. `--optimize-for-size` keeps RSS
 * near the live data (140 MB) but costs CPU: 10 % on writes, 20-40 ms on the
 * discovery push p50 of a 1,000-sidecar mesh, whose KV is small. So a node
 * turns it on only while its KV is large, where the memory is the problem
 * (V8 reads the flag at each collection); the gap between the marks keeps a
 * KV near one size from flapping.
 */
export class HeapMode {
  readonly #setFlag: (flag: string) => void;
  #compact = false;

  constructor(setFlag: (flag: string) => void = setFlagsFromString) {
    this.#setFlag = setFlag;
  }

  get compact(): boolean {
    return this.#compact;
  }

  update(keys: number): void {
    if (!this.#compact && keys >= COMPACT_FROM_KEYS) {
      this.#compact = true;
      this.#setFlag("--optimize-for-size");
    } else if (this.#compact && keys < FAST_BELOW_KEYS) {
      this.#compact = false;
      this.#setFlag("--no-optimize-for-size");
    }
  }
}

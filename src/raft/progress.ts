/** A ring buffer of the last indexes of MsgApps in flight to one follower. */
export class Inflights {
  readonly #buf: number[];
  #start = 0;
  count = 0;

  constructor(size: number) {
    this.#buf = new Array<number>(Math.max(1, size)).fill(0);
  }

  full(): boolean {
    return this.count === this.#buf.length;
  }

  add(index: number): void {
    if (this.full()) return;
    this.#buf[(this.#start + this.count) % this.#buf.length] = index;
    this.count++;
  }

  /** Frees every message whose last index is ≤ to (the follower acknowledged up to it). */
  freeLE(to: number): void {
    while (this.count > 0 && (this.#buf[this.#start] ?? 0) <= to) {
      this.#start = (this.#start + 1) % this.#buf.length;
      this.count--;
    }
  }

  freeFirstOne(): void {
    if (this.count === 0) return;
    this.#start = (this.#start + 1) % this.#buf.length;
    this.count--;
  }

  reset(): void {
    this.#start = 0;
    this.count = 0;
  }
}

export type ProgressState = "probe" | "replicate" | "snapshot";

/**
 * The leader's view of one follower. Probe: one MsgApp at a time until the
 * logs match; replicate: pipelined MsgApps within the inflight window;
 * snapshot: waiting for the follower to install a snapshot.
 */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = "probe";
  pendingSnapshot = 0;
  /** Set by any message from the follower; reset every election timeout by check-quorum. */
  recentActive = true;
  /** Probe state: a MsgApp was sent and no answer came yet. */
  probeSent = false;
  isLearner: boolean;
  readonly inflights: Inflights;

  constructor(next: number, maxInflight: number, isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
    this.isLearner = isLearner;
  }

  #reset(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === "snapshot") {
      const pending = this.pendingSnapshot;
      this.#reset("probe");
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.#reset("probe");
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.#reset("replicate");
    this.next = this.match + 1;
  }

  becomeSnapshot(index: number): void {
    this.#reset("snapshot");
    this.pendingSnapshot = index;
  }

  /** The follower acknowledged up to n; false when the ack is stale. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * The follower rejected a MsgApp at `rejected`; matchHint is where the logs
   * may agree. False when the rejection is stale (reordered or duplicated).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }
}

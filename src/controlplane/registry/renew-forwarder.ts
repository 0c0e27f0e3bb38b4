import type { Clock, TimerHandle } from "../../common/clock.ts";

export type RenewBatch = (leaseIds: string[]) => Promise<{ leader: boolean; unknown: string[] }>;

/** How long a follower gathers renewals before sending one batch to the leader. */
export const RENEW_BATCH_MS = 1_000;

interface Waiter {
  resolve: (known: boolean) => void;
  reject: (err: unknown) => void;
}

/**
 * On a follower: collects the lease renewals of the streams it serves and
 * sends them to the leader as one RenewLeases call per batch window, so a
 * thousand sidecars cost one RPC a second rather than a thousand, and never a
 * Raft entry. Each renew() resolves with whether the leader knew the lease.
 */
export class RenewForwarder {
  readonly #clock: Clock;
  readonly #send: RenewBatch;
  readonly #batchMs: number;
  #pending = new Map<string, Waiter[]>();
  #timer: TimerHandle | undefined;

  constructor(clock: Clock, send: RenewBatch, batchMs = RENEW_BATCH_MS) {
    this.#clock = clock;
    this.#send = send;
    this.#batchMs = batchMs;
  }

  renew(leaseId: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const waiters = this.#pending.get(leaseId) ?? [];
      waiters.push({ resolve, reject });
      this.#pending.set(leaseId, waiters);
      this.#timer ??= this.#clock.setTimeout(() => void this.#flush(), this.#batchMs);
    });
  }

  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #flush(): Promise<void> {
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = new Map();
    try {
      const { leader, unknown } = await this.#send([...batch.keys()]);
      const missing = new Set(unknown);
      for (const [id, waiters] of batch) {
        // Asked a node that is no longer leader: the lease is not known to be gone, so do not re-register.
        const known = !leader || !missing.has(id);
        for (const w of waiters) w.resolve(known);
      }
    } catch (err) {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(err);
    }
  }
}

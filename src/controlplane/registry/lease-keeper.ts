import type { Clock } from "../../common/clock.ts";

/**
 * The leader's in-memory lease deadlines. Renewals land here only: putting
 * them in the Raft log would write one entry per sidecar every TTL/3.
 * Followers keep no deadlines; a node that becomes leader calls takeOver()
 * with the replicated leases, which restarts every deadline one full TTL from
 * now, so a failover never expires a lease its sidecar kept renewing
 * elsewhere.
 */
export class LeaseKeeper {
  readonly #clock: Clock;
  readonly #deadlines = new Map<string, { ttlMs: number; at: number }>();
  #leading = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get leading(): boolean {
    return this.#leading;
  }

  takeOver(leases: Iterable<{ id: string; ttlMs: number }>): void {
    this.#leading = true;
    this.#deadlines.clear();
    const now = this.#clock.now();
    for (const l of leases) this.#deadlines.set(l.id, { ttlMs: l.ttlMs, at: now + l.ttlMs });
  }

  stepDown(): void {
    this.#leading = false;
    this.#deadlines.clear();
  }

  /** A lease was granted (or re-granted) by an applied entry. */
  granted(id: string, ttlMs: number): void {
    if (this.#leading) this.#deadlines.set(id, { ttlMs, at: this.#clock.now() + ttlMs });
  }

  /** A lease was removed by an applied entry. */
  removed(id: string): void {
    this.#deadlines.delete(id);
  }

  /** False when this node does not know the lease (not leader, or the lease is gone: the sidecar must register again). */
  renew(id: string): boolean {
    const d = this.#deadlines.get(id);
    if (!this.#leading || d === undefined) return false;
    d.at = this.#clock.now() + d.ttlMs;
    return true;
  }

  /** Leases past their deadline, to be expired by one `mesh.lease.expire` entry. */
  due(): string[] {
    if (!this.#leading) return [];
    const now = this.#clock.now();
    const out: string[] = [];
    for (const [id, d] of this.#deadlines) if (d.at <= now) out.push(id);
    return out.sort();
  }

  /** Milliseconds until the earliest deadline, for scheduling the next check. */
  nextDueInMs(): number | undefined {
    let min: number | undefined;
    for (const d of this.#deadlines.values()) if (min === undefined || d.at < min) min = d.at;
    return min === undefined ? undefined : Math.max(0, min - this.#clock.now());
  }
}

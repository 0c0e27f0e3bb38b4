/**
 * Envoy-style resource limits for one destination service, as counters the
 * data path bumps synchronously. The connection pool holds at most
 * maxConnections sockets (the pool's maxSockets), so a request beyond them
 * waits for a socket: that wait is "pending", and the number pending is
 * active - maxConnections. Admission therefore needs no view into the pool.
 */
export interface ConcurrencySpec {
  maxConnections?: number | undefined;
  maxPendingRequests?: number | undefined;
  maxRequests?: number | undefined;
  maxRetries?: number | undefined;
}

export type Overflow = "maxRequests" | "maxPendingRequests" | "maxRetries";

export class ConcurrencyLimits {
  readonly spec: ConcurrencySpec;
  readonly #maxActive: number;
  readonly #maxRetries: number;
  #active = 0;
  #retries = 0;

  constructor(spec: ConcurrencySpec) {
    this.spec = spec;
    const byRequests = spec.maxRequests ?? Number.POSITIVE_INFINITY;
    const byPending =
      spec.maxConnections !== undefined && spec.maxPendingRequests !== undefined
        ? spec.maxConnections + spec.maxPendingRequests
        : Number.POSITIVE_INFINITY;
    this.#maxActive = Math.min(byRequests, byPending);
    this.#maxRetries = spec.maxRetries ?? Number.POSITIVE_INFINITY;
  }

  /** Takes a request slot; undefined when taken, else which limit overflowed (503 UO). */
  acquire(): Overflow | undefined {
    if (this.#active >= this.#maxActive) {
      return this.spec.maxRequests !== undefined && this.#active >= this.spec.maxRequests
        ? "maxRequests"
        : "maxPendingRequests";
    }
    this.#active++;
    return undefined;
  }

  release(): void {
    if (this.#active > 0) this.#active--;
  }

  /** Takes a retry slot; false when the retry must not happen. */
  acquireRetry(): boolean {
    if (this.#retries >= this.#maxRetries) return false;
    this.#retries++;
    return true;
  }

  releaseRetry(): void {
    if (this.#retries > 0) this.#retries--;
  }

  get active(): number {
    return this.#active;
  }

  get activeRetries(): number {
    return this.#retries;
  }
}

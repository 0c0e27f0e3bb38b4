import { randomUUID } from "node:crypto";
import Bottleneck from "bottleneck";
import { Redis } from "ioredis";
import type { Clock, TimerHandle } from "../../common/clock.ts";
import { errorMessage } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import { type BucketState, TokenBucket } from "./token-bucket.ts";

export interface RedisAddress {
  host: string;
  port: number;
}

export interface GlobalReservoirOptions {
  /** Names the shared budget in Redis: every sidecar with the same id shares it. */
  id: string;
  redis: RedisAddress;
  ratePerSecond: number;
  capacity: number;
  clock: Clock;
  logger: Logger;
  onDegradedChange?: (degraded: boolean) => void;
  /** How often the background loop leases and probes, ms. */
  tickMs?: number;
  /** A Redis answer slower than this counts as Redis being unavailable, ms. */
  probeTimeoutMs?: number;
}

const DEFAULT_TICK_MS = 100;
const DEFAULT_PROBE_TIMEOUT_MS = 250;
/** How often the instance count is refreshed, and how long an instance counts as alive without refreshing it. */
const MEMBERSHIP_EVERY_MS = 1000;
const MEMBERSHIP_TTL_MS = 3000;
/** A lease still unanswered after this long is given up (Redis lost mid-call); a late answer is still banked. */
const LEASE_ABANDON_MS = 5000;
const STOP_WAIT_MS = 500;
/** Registers this instance, forgets instances silent for the TTL, and counts the rest. */
const MEMBERSHIP_LUA = `
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('ZCARD', KEYS[1])`;

/**
 * bottleneck calls ioredis with callbacks and drops the promises ioredis also
 * returns; when a command fails (Redis gone, connection closed) such a
 * promise rejects with nobody listening, an unhandled rejection that would
 * end the process. Every command's promise gets a no-op handler here; the
 * callback, or whoever awaits the same promise, still sees the error. The
 * subscriber connection bottleneck makes with duplicate() gets the same.
 */
class QuietRedis extends Redis {
  override sendCommand(...args: Parameters<Redis["sendCommand"]>): ReturnType<Redis["sendCommand"]> {
    const result = super.sendCommand(...args);
    if (result instanceof Promise) result.catch(() => {});
    return result;
  }

  override duplicate(override?: Parameters<Redis["duplicate"]>[0]): Redis {
    // ioredis's own duplicate() builds a plain Redis; options are its own, already valid.
    return Reflect.construct(QuietRedis, [{ ...this.options, ...override }]) as Redis;
  }
}

/**
 * A cluster-wide budget: a bottleneck reservoir kept in Redis, refilled at the
 * policy's rate. Each sidecar leases tokens from it in batches in the
 * background into a local pool, and the hot path only takes from that pool
 * (synchronously), so it never waits on Redis. The batch size follows this
 * sidecar's recent demand, so a busy instance leases more than an idle one.
 *
 * When Redis cannot be reached (a failed or slow probe), admission falls
 * back to a local bucket at rate / (instances last seen in Redis), logged
 * once; leasing resumes when Redis answers again.
 */
export class GlobalReservoir {
  readonly ratePerSecond: number;
  readonly #opts: GlobalReservoirOptions;
  readonly #tickMs: number;
  readonly #probeTimeoutMs: number;
  readonly #instanceId = randomUUID();
  readonly #client: Redis;
  #limiter: Bottleneck;
  readonly #maxLease: number;
  #pool = 0;
  #demand = 0;
  #demandRate = 0;
  #leaseStartedAt: number | undefined;
  #leases = 0;
  #lastMembership = Number.NEGATIVE_INFINITY;
  #instances = 1;
  #degraded = false;
  #probing = false;
  #fallback: { bucket: TokenBucket; state: BucketState } | undefined;
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(opts: GlobalReservoirOptions) {
    this.#opts = opts;
    this.ratePerSecond = opts.ratePerSecond;
    this.#tickMs = opts.tickMs ?? DEFAULT_TICK_MS;
    this.#probeTimeoutMs = opts.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
    const perTick = (opts.ratePerSecond * this.#tickMs) / 1000;
    this.#maxLease = Math.max(1, Math.floor(perTick));
    this.#client = new QuietRedis(this.#probeClientOptions());
    this.#client.on("error", () => {});
    this.#limiter = this.#newLimiter();
    this.#schedule();
  }

  /** The hot path: synchronous, never touches Redis. */
  tryTake(): boolean {
    this.#demand++;
    if (this.#degraded) return this.#takeFallback();
    if (this.#pool >= 1) {
      this.#pool--;
      return true;
    }
    return false;
  }

  /** Milliseconds until a token is likely to be available here. */
  retryAfterMs(): number {
    return Math.ceil(1000 / this.ratePerSecond);
  }

  get degraded(): boolean {
    return this.#degraded;
  }

  get instances(): number {
    return this.#instances;
  }

  get pooled(): number {
    return this.#pool;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#opts.clock.clearTimeout(this.#timer);
    // bottleneck's stop waits for its Redis setup, which never ends while Redis is down: bound it.
    await new Promise<void>((resolve) => {
      const timer = this.#opts.clock.setTimeout(resolve, STOP_WAIT_MS);
      this.#limiter
        .stop({ dropWaitingJobs: true })
        .catch(() => {})
        .finally(() => {
          this.#opts.clock.clearTimeout(timer);
          resolve();
        });
    });
    await this.#limiter.disconnect(false).catch(() => {});
    this.#client.disconnect();
  }

  #takeFallback(): boolean {
    const now = this.#opts.clock.now();
    if (this.#fallback === undefined) {
      const rate = this.ratePerSecond / Math.max(1, this.#instances);
      const bucket = new TokenBucket(rate, Math.max(1, Math.ceil(this.#opts.capacity / Math.max(1, this.#instances))));
      this.#fallback = { bucket, state: bucket.newState(now) };
    }
    return this.#fallback.bucket.tryTake(this.#fallback.state, now);
  }

  /** The probe's client: commands fail at once while disconnected instead of queueing, so probes stay bounded. */
  #probeClientOptions() {
    return {
      host: this.#opts.redis.host,
      port: this.#opts.redis.port,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 1000,
      retryStrategy: () => 500,
    };
  }

  /**
   * bottleneck's clients keep ioredis's offline queue (with it off, a failed
   * script call also surfaces as an unhandled rejection inside bottleneck),
   * bounded: queued commands fail after one reconnect attempt, and any command
   * fails after commandTimeout.
   */
  #limiterClientOptions() {
    return {
      host: this.#opts.redis.host,
      port: this.#opts.redis.port,
      maxRetriesPerRequest: 1,
      commandTimeout: 2000,
      connectTimeout: 1000,
      retryStrategy: () => 500,
    };
  }

  /**
   * Each limiter owns its connections: with a shared one, bottleneck's stop
   * unsubscribes without handling a failure, which is an unhandled rejection
   * when Redis is gone.
   */
  #newLimiter(): Bottleneck {
    const perTick = (this.ratePerSecond * this.#tickMs) / 1000;
    const limiter = new Bottleneck({
      id: `meshlet-rl-${this.#opts.id}`,
      datastore: "ioredis",
      Redis: QuietRedis,
      clientOptions: this.#limiterClientOptions(),
      maxConcurrent: null,
      reservoir: this.#opts.capacity,
      reservoirIncreaseInterval: this.#tickMs,
      reservoirIncreaseAmount: perTick,
      reservoirIncreaseMaximum: Math.max(this.#opts.capacity, this.#maxLease),
      // Queued leases are looked at again on each heartbeat: twice per refill, so a lease
      // that just missed the refill does not wait a whole tick.
      heartbeatInterval: Math.max(10, this.#tickMs / 2),
      // Redis keys of a budget nobody uses expire instead of piling up.
      timeout: 60_000,
    });
    limiter.on("error", () => {});
    // Its datastore's setup promise rejects when Redis goes away mid-setup, and bottleneck leaves it unobserved.
    limiter.ready().catch(() => {});
    return limiter;
  }

  /**
   * A lease queued before Redis went away may never be answered: start over
   * with a fresh limiter (same id, so the same budget) and drop the old queue.
   */
  #restartLeasing(): void {
    const old = this.#limiter;
    this.#limiter = this.#newLimiter();
    this.#leaseStartedAt = undefined;
    this.#leases++;
    void old
      .stop({ dropWaitingJobs: true })
      .catch(() => {})
      .finally(() => old.disconnect(false).catch(() => {}));
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#opts.clock.setTimeout(() => this.#tick(), this.#tickMs);
  }

  #tick(): void {
    const now = this.#opts.clock.now();
    // Exponentially weighted demand per tick, so the lease follows traffic without jumping on one spike.
    this.#demandRate = this.#demandRate * 0.5 + this.#demand * 0.5;
    this.#demand = 0;
    if (!this.#probing) void this.#probe(now);
    if (!this.#degraded) this.#maybeLease(now);
    this.#schedule();
  }

  #maybeLease(now: number): void {
    if (this.#leaseStartedAt !== undefined) {
      if (now - this.#leaseStartedAt < LEASE_ABANDON_MS) return;
      this.#leaseStartedAt = undefined;
    }
    // Each instance asks for at most its share of a tick's refill: bottleneck grants whichever ask fits first,
    // so one instance asking for a whole tick would starve behind the others' smaller asks.
    const share = Math.max(1, Math.ceil(this.#maxLease / Math.max(1, this.#instances)));
    const want = Math.min(share, Math.max(1, Math.ceil(this.#demandRate)));
    if (this.#demandRate === 0 || this.#pool >= want) return;
    this.#leaseStartedAt = now;
    const lease = ++this.#leases;
    this.#limiter
      .schedule({ weight: want, expiration: LEASE_ABANDON_MS }, () => Promise.resolve(want))
      .then(
        (granted) => {
          // Tokens leased before a fallback are still this instance's share: bank them.
          this.#pool = Math.min(this.#pool + granted, this.#maxLease * 2);
        },
        () => {},
      )
      .finally(() => {
        // An abandoned lease answering late must not clear the mark of the one now in flight.
        if (lease !== this.#leases) return;
        this.#leaseStartedAt = undefined;
        if (!this.#stopped && !this.#degraded && this.#demandRate > 0) this.#maybeLease(this.#opts.clock.now());
      });
  }

  async #probe(now: number): Promise<void> {
    this.#probing = true;
    try {
      const membership = now - this.#lastMembership >= MEMBERSHIP_EVERY_MS;
      const key = `meshlet:rl:${this.#opts.id}:instances`;
      const wall = Date.now();
      // One EVAL rather than MULTI: a transaction's queued commands each hold a promise that
      // would reject unobserved if the connection closes mid-call.
      const call: Promise<unknown> = membership
        ? this.#client.eval(
            MEMBERSHIP_LUA,
            1,
            key,
            wall,
            this.#instanceId,
            wall - MEMBERSHIP_TTL_MS,
            MEMBERSHIP_TTL_MS * 10,
          )
        : this.#client.ping();
      const result = await this.#withTimeout(call);
      if (membership) {
        if (typeof result === "number" && result > 0) this.#instances = result;
        this.#lastMembership = now;
      }
      this.#setDegraded(false, undefined);
    } catch (err) {
      this.#setDegraded(true, err);
    } finally {
      this.#probing = false;
    }
  }

  #withTimeout<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.#opts.clock.setTimeout(
        () => reject(new Error(`redis did not answer within ${this.#probeTimeoutMs}ms`)),
        this.#probeTimeoutMs,
      );
      promise.then(
        (v) => {
          this.#opts.clock.clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          this.#opts.clock.clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  #setDegraded(degraded: boolean, err: unknown): void {
    if (degraded === this.#degraded) return;
    this.#degraded = degraded;
    if (degraded) {
      this.#fallback = undefined;
      this.#opts.logger.warn(
        { budget: this.#opts.id, instances: this.#instances, err: errorMessage(err) },
        "global rate limit: redis unavailable, using a local share of the limit",
      );
    } else {
      this.#restartLeasing();
      this.#opts.logger.info({ budget: this.#opts.id }, "global rate limit: redis reachable again, leasing resumed");
    }
    this.#opts.onDegradedChange?.(degraded);
  }
}

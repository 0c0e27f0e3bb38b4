import { randomUUID } from "node:crypto";
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
  /** How often, on average, the background loop leases (and so probes Redis), ms. */
  tickMs?: number;
  /** Jitters the ticks; Math.random unless a test injects its own. */
  random?: () => number;
  /** A Redis answer slower than this counts as Redis being unavailable, ms. */
  probeTimeoutMs?: number;
}

const DEFAULT_TICK_MS = 100;
/** Leases never run more often than this, whatever the bucket size: a burst below it can lose some refill. */
const MIN_TICK_MS = 20;
const DEFAULT_PROBE_TIMEOUT_MS = 250;
/** How long an instance counts as sharing the budget after its last lease. */
const MEMBERSHIP_TTL_MS = 3000;
/** Keys of a budget nobody leases from expire instead of piling up. */
const KEYS_TTL_MS = 60_000;
/** A lease call still unanswered after this long is given up; ioredis fails it by then anyway. */
const COMMAND_TIMEOUT_MS = 2000;

/**
 * One round trip per lease: register this instance and count the live ones,
 * refill the shared bucket for the time since its last use (Redis's own
 * clock, so sidecars' clocks never matter), and take up to `want` tokens.
 * A lease that finds fewer tokens than it asked for gets what there is: no
 * instance waits behind another's larger ask.
 *
 * KEYS: bucket hash, members sorted set.
 * ARGV: rate per second, capacity, want, instance id, membership TTL ms, keys TTL ms.
 * Returns {granted, instances}.
 */
const LEASE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[5]))
redis.call('PEXPIRE', KEYS[2], ARGV[6])
local instances = redis.call('ZCARD', KEYS[2])
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
if now > at then
  tokens = math.min(capacity, tokens + (now - at) * rate / 1000)
  at = now
end
local granted = math.min(want, math.floor(tokens))
if granted < 0 then granted = 0 end
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {granted, instances}`;

/**
 * A cluster-wide budget: a token bucket kept in Redis, refilled at the
 * policy's rate. Each sidecar leases tokens from it in the background, one
 * script call per tick, into a local pool, and the hot path only takes from
 * that pool (synchronously), so it never waits on Redis. A lease asks for
 * the demand this sidecar saw since its previous lease, so a busy instance
 * leases more than an idle one, and a late tick (a loaded event loop) asks
 * for the whole time it missed rather than one tick's worth.
 *
 * The lease is also the probe: when it fails or answers later than the
 * probe timeout, admission falls back to a local bucket at rate / (instances
 * last seen in Redis), logged once; leasing resumes when Redis answers again.
 */
export class GlobalReservoir {
  readonly ratePerSecond: number;
  readonly #opts: GlobalReservoirOptions;
  readonly #tickMs: number;
  readonly #random: () => number;
  readonly #probeTimeoutMs: number;
  readonly #instanceId = randomUUID();
  readonly #client: Redis;
  readonly #keys: [string, string];
  /** The most tokens this sidecar holds unused: two ticks of the whole rate, at least the burst. */
  readonly #maxPool: number;
  #pool = 0;
  #demand = 0;
  #inFlight = false;
  #instances = 1;
  #degraded = false;
  #fallback: { bucket: TokenBucket; state: BucketState } | undefined;
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(opts: GlobalReservoirOptions) {
    this.#opts = opts;
    this.ratePerSecond = opts.ratePerSecond;
    // The bucket in Redis holds at most `capacity` tokens: refill accrued beyond that while no instance leases is
    // lost although there is demand. So the longest gap between two leases (1.5 average ticks, with the jitter)
    // stays within the time the bucket takes to fill: ticks of at most a third of capacity / rate.
    const fillMs = (opts.capacity / opts.ratePerSecond) * 1000;
    this.#tickMs = opts.tickMs ?? Math.min(DEFAULT_TICK_MS, Math.max(MIN_TICK_MS, fillMs / 3));
    this.#random = opts.random ?? Math.random;
    this.#probeTimeoutMs = opts.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
    this.#maxPool = Math.max(opts.capacity, Math.ceil((opts.ratePerSecond * this.#tickMs * 2) / 1000));
    this.#keys = [`meshlet:rl:${opts.id}:bucket`, `meshlet:rl:${opts.id}:instances`];
    this.#client = new Redis({
      host: opts.redis.host,
      port: opts.redis.port,
      // Fail at once while disconnected instead of queueing: a lease is retried on the next tick anyway.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: 1000,
      retryStrategy: () => 500,
    });
    this.#client.on("error", () => {});
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
    this.#client.disconnect();
  }

  #takeFallback(): boolean {
    const now = this.#opts.clock.now();
    if (this.#fallback === undefined) {
      const instances = Math.max(1, this.#instances);
      const bucket = new TokenBucket(
        this.ratePerSecond / instances,
        Math.max(1, Math.ceil(this.#opts.capacity / instances)),
      );
      this.#fallback = { bucket, state: bucket.newState(now) };
    }
    return this.#fallback.bucket.tryTake(this.#fallback.state, now);
  }

  /**
   * A lease takes what accrued since anyone's last lease, so instances that
   * tick in step (started together) would always find the bucket in the same
   * order and the first would take nearly everything. Jittered ticks (half to
   * one and a half intervals) make every instance equally likely to come
   * after a long gap, so each gets its share on average.
   */
  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#opts.clock.setTimeout(() => this.#tick(), this.#tickMs * (0.5 + this.#random()));
  }

  #tick(): void {
    this.#schedule();
    // One call at a time: a slow Redis is not piled onto; the pending call's timeout decides degradation.
    if (this.#inFlight) return;
    // Ask for the demand seen since the last lease, and keep one token banked even when idle so the first
    // request after a quiet spell is not refused. While degraded the call asks for nothing: it only probes
    // Redis and keeps this instance counted.
    const target = Math.max(1, Math.min(this.#demand, this.#maxPool));
    const want = this.#degraded ? 0 : Math.max(0, target - this.#pool);
    this.#demand = 0;
    void this.#lease(want);
  }

  async #lease(want: number): Promise<void> {
    this.#inFlight = true;
    const call = this.#client.eval(
      LEASE_LUA,
      2,
      this.#keys[0],
      this.#keys[1],
      this.ratePerSecond,
      this.#opts.capacity,
      want,
      this.#instanceId,
      MEMBERSHIP_TTL_MS,
      KEYS_TTL_MS,
    );
    const late = this.#opts.clock.setTimeout(
      () => this.#setDegraded(true, new Error(`redis did not answer within ${this.#probeTimeoutMs}ms`)),
      this.#probeTimeoutMs,
    );
    try {
      const [granted, instances] = (await call) as [number, number];
      // Tokens granted are taken from the shared budget: bank them even when the answer came late.
      this.#pool = Math.min(this.#pool + granted, this.#maxPool);
      if (instances > 0) this.#instances = instances;
      if (!this.#stopped) this.#setDegraded(false, undefined);
    } catch (err) {
      if (!this.#stopped) this.#setDegraded(true, err);
    } finally {
      this.#opts.clock.clearTimeout(late);
      this.#inFlight = false;
    }
  }

  #setDegraded(degraded: boolean, err: unknown): void {
    if (degraded === this.#degraded || this.#stopped) return;
    this.#degraded = degraded;
    if (degraded) {
      this.#fallback = undefined;
      this.#opts.logger.warn(
        { budget: this.#opts.id, instances: this.#instances, err: errorMessage(err) },
        "global rate limit: redis unavailable, using a local share of the limit",
      );
    } else {
      this.#opts.logger.info({ budget: this.#opts.id }, "global rate limit: redis reachable again, leasing resumed");
    }
    this.#opts.onDegradedChange?.(degraded);
  }
}

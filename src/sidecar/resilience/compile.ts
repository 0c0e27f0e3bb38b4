import type { Clock } from "../../common/clock.ts";
import type { Logger } from "../../common/logger.ts";
import { isCanonicalPolicySpec } from "../../config/canonical.ts";
import { durationMs } from "../../config/duration.ts";
import { formatPath } from "../../config/format-path.ts";
import type { Policy, PolicySpec } from "../../config/resources.ts";
import { resourceSchemas } from "../../config/schemas-on-demand.ts";
import { grpcStaticReply } from "../engine/h2/grpc.ts";
import { HealthChecker, type Probe, type TransportFor } from "../upstream/health-check.ts";
import { OutlierDetector } from "../upstream/outlier.ts";
import { Breaker, type BreakerState, defaultFailureStatuses } from "./breaker.ts";
import { ConcurrencyLimits } from "./concurrency.ts";
import { type PolicyIssue, PolicyRejectedError } from "./errors.ts";
import { Fallback, type FallbackAction, staticReply } from "./fallback.ts";
import type { GlobalReservoir, RedisAddress } from "./global-reservoir.ts";
import { KeyedLimiter } from "./keyed-limiter.ts";
import type { ResilienceMetrics } from "./metrics.ts";
import { type Direction, RateLimit, type RateLimitKey } from "./rate-limit.ts";
import { StaleCache } from "./stale-cache.ts";
import { TokenBucket } from "./token-bucket.ts";
import { WaitQueue } from "./wait-queue.ts";

/** The runtime objects of one Policy, built once per config snapshot. */
export interface CompiledPolicy {
  readonly name: string;
  /** `service/<name>` or `route/<name>`: the metric label. */
  readonly target: string;
  readonly breaker: Breaker | undefined;
  readonly limits: ConcurrencyLimits | undefined;
  /** Caller protection: requests this sidecar sends to the target. */
  readonly rateLimit: RateLimit | undefined;
  /** Callee protection: requests arriving for this sidecar's own service (only when the policy targets it). */
  readonly inboundRateLimit: RateLimit | undefined;
  /** Lower-cased header name, or the calling service's identity. */
  readonly rateLimitKey: RateLimitKey;
  readonly fallback: Fallback | undefined;
  readonly outlier: OutlierDetector | undefined;
  readonly healthCheck: HealthChecker | undefined;
}

export interface BreakerReport {
  target: string;
  state: BreakerState;
}

/** A snapshot's policies, looked up by the data path. */
export class PolicySet {
  readonly #byService: ReadonlyMap<string, CompiledPolicy>;
  readonly #byRoute: ReadonlyMap<string, CompiledPolicy>;

  constructor(byService: ReadonlyMap<string, CompiledPolicy>, byRoute: ReadonlyMap<string, CompiledPolicy>) {
    this.#byService = byService;
    this.#byRoute = byRoute;
  }

  forService(service: string): CompiledPolicy | undefined {
    return this.#byService.get(service);
  }

  forRoute(route: string): CompiledPolicy | undefined {
    return this.#byRoute.get(route);
  }

  /**
   * The policy that governs a request: a route policy wins over a service
   * policy for what it sets; there is no field-by-field merge.
   */
  resolve(service: string, route: string | undefined): CompiledPolicy | undefined {
    return (route === undefined ? undefined : this.#byRoute.get(route)) ?? this.#byService.get(service);
  }

  /** For the admin `/endpoints` view and the control plane's `/v1/sidecars`. */
  breakerStates(): BreakerReport[] {
    const out: BreakerReport[] = [];
    for (const p of [...this.#byService.values(), ...this.#byRoute.values()]) {
      if (p.breaker !== undefined) out.push({ target: p.target, state: p.breaker.state });
    }
    return out;
  }

  all(): CompiledPolicy[] {
    return [...this.#byService.values(), ...this.#byRoute.values()];
  }
}

export interface CompilerDeps {
  clock: Clock;
  logger: Logger;
  metrics: ResilienceMetrics;
  /** This sidecar's own service: its policy also limits inbound requests. */
  localService: string;
  /**
   * Where global rate limits keep their budget, and the reservoir type (its
   * module, with ioredis, is loaded only by sidecars given Redis); without it
   * a `scope: global` limit runs locally at the full rate, flagged degraded.
   */
  redis?: { address: RedisAddress; Reservoir: typeof GlobalReservoir };
  /** Replaces the HTTP probe of active health checks (tests). */
  healthProbe?: Probe;
  /** How health checks reach an endpoint: the transport its pool uses (plain TCP when unset). */
  transport?: TransportFor;
}

/** A runtime part kept across snapshots while its spec stays the same. */
interface LivePart {
  fingerprint: string;
  value: unknown;
  stop: () => void;
}

/**
 * Turns validated Policy resources into runtime objects, once per snapshot.
 * A part whose spec did not change between snapshots is carried over with
 * its state (a breaker keeps its window and state, a bucket its tokens, an
 * outlier detector its ejections); a changed spec starts fresh.
 *
 * Use: `compile()` (throws PolicyRejectedError, the NACK, with nothing
 * changed), swap the returned set in, then `activate()` it so that parts no
 * longer used are stopped.
 */
export class PolicyCompiler {
  #deps: CompilerDeps;
  #live = new Map<string, LivePart>();
  #pending = new Map<string, LivePart>();
  #lastSet: PolicySet | undefined;

  constructor(deps: CompilerDeps) {
    this.#deps = deps;
  }

  /** Enables `scope: global` limits; called before the first snapshot, once the reservoir module is loaded. */
  useRedis(redis: NonNullable<CompilerDeps["redis"]>): void {
    this.#deps = { ...this.#deps, redis };
  }

  compile(policies: readonly Policy[]): PolicySet {
    const issues = validatePolicies(policies);
    if (issues.length > 0) {
      this.#deps.metrics.policyRejections.inc();
      throw new PolicyRejectedError(issues);
    }
    this.#pending = new Map();
    const byService = new Map<string, CompiledPolicy>();
    const byRoute = new Map<string, CompiledPolicy>();
    for (const policy of policies) {
      const compiled = this.#build(policy);
      const t = policy.spec.target;
      if ("service" in t) byService.set(t.service, compiled);
      else byRoute.set(t.route, compiled);
    }
    this.#lastSet = new PolicySet(byService, byRoute);
    return this.#lastSet;
  }

  /** The set from the last compile() is now in use: stop what it no longer needs. */
  activate(): void {
    const active = this.#lastSet;
    this.#deps.metrics.reportBreakers(() => active?.breakerStates() ?? []);
    for (const [key, part] of this.#live) if (this.#pending.get(key) !== part) part.stop();
    this.#live = this.#pending;
    this.#pending = new Map();
  }

  /** Stops every part (sidecar shutdown). */
  stop(): void {
    for (const part of this.#live.values()) part.stop();
    for (const part of this.#pending.values()) part.stop();
    this.#live = new Map();
    this.#pending = new Map();
  }

  #part<T>(key: string, spec: unknown, make: () => { value: T; stop: () => void }): T {
    const fingerprint = JSON.stringify(spec);
    const live = this.#live.get(key) ?? this.#pending.get(key);
    if (live !== undefined && live.fingerprint === fingerprint) {
      this.#pending.set(key, live);
      return live.value as T;
    }
    const made = make();
    this.#pending.set(key, { fingerprint, value: made.value, stop: made.stop });
    return made.value;
  }

  #build(policy: Policy): CompiledPolicy {
    const spec = policy.spec;
    const target = "service" in spec.target ? `service/${spec.target.service}` : `route/${spec.target.route}`;
    const service = "service" in spec.target ? spec.target.service : undefined;
    const { clock, metrics } = this.#deps;

    const cb = spec.circuitBreaker;
    const breaker =
      cb === undefined
        ? undefined
        : this.#part(`${target}#breaker`, cb, () => {
            const b = new Breaker(
              target,
              {
                errorThresholdPercentage: cb.errorThresholdPercentage,
                volumeThreshold: cb.volumeThreshold,
                rollingWindowMs: durationMs(cb.rollingWindow),
                resetTimeoutMs: durationMs(cb.resetTimeout),
                failureStatuses:
                  cb.failureStatuses === undefined ? defaultFailureStatuses() : new Set(cb.failureStatuses),
              },
              clock,
            );
            return { value: b, stop: () => b.shutdown() };
          });

    const limits =
      spec.limits === undefined
        ? undefined
        : this.#part(`${target}#limits`, spec.limits, () => ({
            value: new ConcurrencyLimits(spec.limits ?? {}),
            stop: () => {},
          }));

    const rl = spec.rateLimit;
    const rateLimit = rl === undefined ? undefined : this.#rateLimit(policy.metadata.name, rl, target, "outbound");
    const inboundRateLimit =
      rl !== undefined && service === this.#deps.localService
        ? this.#rateLimit(policy.metadata.name, rl, target, "inbound")
        : undefined;
    const rateLimitKey: RateLimitKey =
      rl?.key === undefined
        ? undefined
        : "header" in rl.key
          ? { header: rl.key.header.toLowerCase() }
          : { sourceService: true };

    const fallback = spec.fallback === undefined ? undefined : this.#fallback(spec.fallback, target);

    const od = spec.outlierDetection;
    const outlier =
      od === undefined
        ? undefined
        : this.#part(`${target}#outlier`, od, () => {
            const label = service ?? target;
            const ejectedGauge = metrics.ejected.labels(label);
            const detector = new OutlierDetector(
              {
                consecutiveErrors: od.consecutiveErrors,
                intervalMs: durationMs(od.interval),
                baseEjectionTimeMs: durationMs(od.baseEjectionTime),
                maxEjectionPercent: od.maxEjectionPercent,
                ...(od.successRateMinimumHosts === undefined
                  ? {}
                  : { successRateMinimumHosts: od.successRateMinimumHosts }),
              },
              clock,
              {
                onEject: (key, reason) => {
                  metrics.ejections.labels(label, reason).inc();
                  ejectedGauge.inc();
                  this.#deps.logger.info({ service: label, endpoint: key, reason }, "outlier ejected");
                },
                onReturn: (key) => {
                  ejectedGauge.dec();
                  this.#deps.logger.info({ service: label, endpoint: key }, "outlier returned");
                },
              },
            );
            return { value: detector, stop: () => detector.stop() };
          });

    const hc = spec.healthCheck;
    const healthCheck =
      hc === undefined
        ? undefined
        : this.#part(`${target}#health`, hc, () => {
            const label = service ?? target;
            const checker = new HealthChecker(
              {
                path: hc.path,
                grpc: hc.grpc,
                intervalMs: durationMs(hc.interval),
                timeoutMs: durationMs(hc.timeout),
                healthyThreshold: hc.healthyThreshold,
                unhealthyThreshold: hc.unhealthyThreshold,
              },
              clock,
              this.#deps.healthProbe,
              (key, healthy) => {
                metrics.healthChecks.labels(label, healthy ? "healthy" : "unhealthy").inc();
                this.#deps.logger.info({ service: label, endpoint: key, healthy }, "health check verdict changed");
              },
              this.#deps.transport,
            );
            return { value: checker, stop: () => checker.stop() };
          });

    return {
      name: policy.metadata.name,
      target,
      breaker,
      limits,
      rateLimit,
      inboundRateLimit,
      rateLimitKey,
      fallback,
      outlier,
      healthCheck,
    };
  }

  #rateLimit(
    policyName: string,
    rl: NonNullable<PolicySpec["rateLimit"]>,
    target: string,
    direction: Direction,
  ): RateLimit {
    const { clock, metrics, logger } = this.#deps;
    return this.#part(`${target}#rateLimit#${direction}`, { rl, redis: this.#deps.redis?.address }, () => {
      const capacity = burstCapacity(rl.requestsPerSecond, rl.burst);
      const maxWaitMs = rl.maxWait === undefined ? undefined : durationMs(rl.maxWait);
      const queue = maxWaitMs === undefined ? undefined : new WaitQueue(rl.queueSize, clock);
      let reservoir: GlobalReservoir | undefined;
      let source: ConstructorParameters<typeof RateLimit>[0]["source"];
      const redis = this.#deps.redis;
      if (rl.scope === "global" && redis !== undefined) {
        const degraded = metrics.globalDegraded.labels(target);
        const fallbacks = metrics.globalFallbacks.labels(target);
        degraded.set(0);
        reservoir = new redis.Reservoir({
          id: `${policyName}:${direction}`,
          redis: redis.address,
          ratePerSecond: rl.requestsPerSecond,
          capacity,
          clock,
          logger,
          onDegradedChange: (d) => {
            degraded.set(d ? 1 : 0);
            if (d) fallbacks.inc();
          },
        });
        source = { kind: "global", reservoir };
      } else {
        // Global without Redis: this sidecar's own bucket at the full rate, flagged degraded (the shared check warns).
        if (rl.scope === "global") metrics.globalDegraded.labels(target).set(1);
        const limiter = new KeyedLimiter(new TokenBucket(rl.requestsPerSecond, capacity), rl.maxKeys, clock);
        source = { kind: "local", limiter };
      }
      const value = new RateLimit({
        ratePerSecond: rl.requestsPerSecond,
        keyed: rl.key !== undefined,
        source,
        ...(queue === undefined || maxWaitMs === undefined ? {} : { queue: { queue, maxWaitMs } }),
      });
      return {
        value,
        stop: () => {
          queue?.stop();
          void reservoir?.stop();
        },
      };
    });
  }

  #fallback(f: NonNullable<PolicySpec["fallback"]>, target: string): Fallback {
    let action: FallbackAction;
    if (f.static !== undefined) {
      const g = f.static.grpc;
      action = {
        kind: "static",
        reply: staticReply(f.static.status, f.static.headers, f.static.body),
        grpc: g === undefined ? undefined : grpcStaticReply(g),
      };
    } else if (f.service !== undefined) {
      action = { kind: "service", service: f.service };
    } else {
      const sc = f.staleCache;
      if (sc === undefined) throw new Error("validated: one fallback kind");
      const cache = this.#part(`${target}#staleCache`, sc, () => ({
        value: new StaleCache(
          {
            maxAgeMs: durationMs(sc.maxAge),
            maxEntries: sc.maxEntries,
            maxBytes: sc.maxBytes,
            vary: sc.vary.map((h) => h.toLowerCase()),
          },
          this.#deps.clock,
        ),
        stop: () => {},
      }));
      action = { kind: "stale-cache", cache };
    }
    return new Fallback(f.on, action);
  }
}

/**
 * Bucket size: the burst on top of the steady rate. Without one, a tenth of a
 * second's worth (at least one), so a limit is not exceeded by a full second
 * of tokens right after it starts.
 */
export function burstCapacity(ratePerSecond: number, burst: number | undefined): number {
  if (burst !== undefined) return Math.max(1, burst);
  return Math.max(1, Math.ceil(ratePerSecond / 10));
}

/**
 * The schema again at the sidecar, for a caller that hands the compiler
 * policies nobody validated: a spec in the schema's output form passes the
 * zod-free check (config/canonical.ts); only another one loads the schema. What involves more than one resource (two
 * policies on one target) is the shared check's (config/mesh-check.ts), run
 * before this on what the sidecar admits.
 */
export function validatePolicies(policies: readonly Policy[]): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  for (const policy of policies) {
    if (isCanonicalPolicySpec(policy.spec)) continue;
    const parsed = resourceSchemas().policySpecSchema.safeParse(policy.spec);
    if (parsed.success) continue;
    for (const zi of parsed.error.issues) {
      const path = zi.path.filter((p): p is string | number => typeof p !== "symbol");
      issues.push({
        resource: `Policy/${policy.metadata.name}`,
        path: formatPath(["spec", ...path]),
        message: zi.message,
      });
    }
  }
  return issues;
}

import type { IncomingMessage, ServerResponse } from "node:http";
import type { CompiledPolicy } from "../resilience/compile.ts";
import type { LocalReply } from "../resilience/fallback.ts";
import type { Balancer } from "../upstream/balancer.ts";

/**
 * The request pipeline contract.
 *
 * A request passes stages in this order; each is a plain function call on the
 * hot path, reading only what the compiled snapshot prepared:
 *
 *   route (match host/path/method/headers; NR)      ROUTE LEVEL
 *   -> rate limit (policy.rateLimit; RL)            route level: `limit.ts` via resilience/admission.ts
 *   -> split (destination by weight)
 *   -> attempt loop (timeout UT, retries, budget)
 *        -> guardAttempt: limits (UO), breaker (CB) ENDPOINT SET LEVEL: `break.ts` via resilience/guard.ts
 *        -> balance (pick skips endpoints for which `Destination.usable(key)` is false: outlier
 *           ejection and active health checks; none left -> UH)       ENDPOINT LEVEL: upstream/outlier.ts
 *        -> forward (UF, UR), outcome fed back to breaker and outlier detection
 *   -> fallback (policy.fallback replaces RL/CB/UO/UH/UT answers; FB) route level: `fallback.ts`
 *
 * A stage answers locally by returning a LocalReply; the pipeline writes it
 * with its flag in `x-meshlet-flags` and stops. Everything a request needs
 * (matchers, cumulative weights, balancers, the resolved policy) is built once
 * per config snapshot by `compileSnapshot`; the only policy seam is
 * `PolicyCompiler.compile(policies)` -> `PolicySet`, resolved per route and
 * destination at compile time, never per request.
 */

/** Response flags (DESIGN.md); "-" means none. */
export type ResponseFlag = "NR" | "UH" | "UF" | "UT" | "UR" | "UO" | "CB" | "RL" | "FB";

export type Direction = "outbound" | "inbound";

/** Per-request state, one object per request. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly direction: Direction;
  readonly startedAt: number;
  /** Destination service, once routed. */
  service: string;
  /** Comma-joined response flags, "" when none. */
  flags: string;
  /** Upstream attempts made. */
  attempts: number;
}

/** A stage answers with a local reply to stop the pipeline, or undefined to continue. */
export type Stage = (ctx: RequestContext) => LocalReply | undefined;

/** One weighted destination of a route, fully resolved for the snapshot. */
export interface Destination {
  readonly service: string;
  readonly balancer: Balancer;
  /** The policy that governs this destination (route policy wins over service policy). */
  readonly policy: CompiledPolicy | undefined;
  /** False for an endpoint key ejected by outlier detection or failed by a health check. */
  readonly usable: ((key: string) => boolean) | undefined;
}

import type { DownstreamResponse } from "../engine/downstream.ts";
import type { EngineRequest } from "../engine/request.ts";
import type { FaultKind } from "../faults/plan.ts";
import type { CompiledPolicy } from "../resilience/compile.ts";
import type { LocalReply } from "../resilience/fallback.ts";
import type { ResilienceFlag } from "../resilience/replies.ts";
import type { CompiledHttpRoute, Destination } from "../snapshot.ts";
import type { RequestRecord } from "../telemetry/record.ts";
import type { UpstreamEndpoint } from "../upstream/balancer.ts";

/**
 * The request pipeline contract.
 *
 * A request passes stages in order; each either continues (returns
 * undefined) or answers locally (returns an Answer) and the chain stops:
 *
 *   route      match authority/path/method/headers              NR, 405 (TRACE)
 *   split      destination by weight, and with it the policy    UH when none
 *   authorize  inbound only: the service's AuthorizationPolicies on the mTLS peer and the normalized path   AZ (403)
 *   fault      route faults and experiments (not with --no-faults): delay, abort, reset, blackhole, bandwidth   FI
 *   admission  the policy's rate limit, per key                 RL
 *   attempt    limits (UO), breaker (CB), balance (UH), forward (UF, UR, UT), retries with budget;
 *              the terminal stage: it streams the upstream's response to the client
 *   fallback   turns a local answer with a resilience flag into the policy's fallback (FB), or the flagged reply
 *
 * Inbound and outbound are two compositions of these stages (inbound.ts,
 * outbound.ts). Stages read only what the compiled snapshot prepared; they
 * never touch a socket (the engine's request and response are their only
 * I/O), and the engine knows nothing of routes or policies.
 */

/** Response flags (DESIGN.md); "-" means none. */
export type ResponseFlag = "NR" | "UH" | "UF" | "UT" | "UR" | "UO" | "CB" | "RL" | "FB" | "FI" | "AZ";

export type Direction = "outbound" | "inbound";

/** A stage's local answer: the flag it stands for, and a reply when the stage made one (else the flag's own). */
export interface Answer {
  readonly flag: ResponseFlag | undefined;
  readonly reply: LocalReply | undefined;
}

export type StageResult = Answer | undefined | Promise<Answer | undefined>;

/** One unit of the request path: continue (undefined) or answer locally and stop. */
export type Stage = (ctx: RequestContext) => StageResult;

/** How a request ended, for the completion point. */
export type Ending = "complete" | "local" | "upstream-reset" | "cancelled";

/**
 * Everything one request carries through the stages, and what the one
 * completion point (`DataPath.complete`) reports when it ended: direction,
 * services, endpoint, status, flags, attempts, bytes, times, request id.
 */
export class RequestContext {
  readonly direction: Direction;
  readonly req: EngineRequest;
  readonly res: DownstreamResponse;
  /** Monotonic ms (the injected clock). */
  readonly startedAt: number;
  /** Wall-clock ms at arrival (for logs and spans). */
  readonly startedWall: number;
  /** What telemetry reports of this request; it also holds the calling service (trusted, or "unknown"). */
  readonly record: RequestRecord;
  /** The authority routed by, lower-cased, without port. */
  readonly host: string;
  route: CompiledHttpRoute | undefined;
  dest: Destination | undefined;
  policy: CompiledPolicy | undefined;
  /** Destination service once routed; "-" before. */
  service = "-";
  /** The endpoint of the last attempt. */
  endpoint: UpstreamEndpoint | undefined;
  /** The response status the client got (0 until known). */
  status = 0;
  /** Comma-joined response flags, "-" when none. */
  flags = "-";
  attempts = 0;
  /** Set when a service fallback serves the request: the flag that triggered it. */
  via: ResilienceFlag | undefined;
  /** Monotonic ms when the response head went out. */
  headAt = 0;
  ending: Ending | undefined;
  /** A WebSocket tunnel's bytes from and to the client, once it closed. */
  tunnel: { readonly received: number; readonly sent: number } | undefined;
  /** The completion point ran. */
  reported = false;
  /** The fault injected into this request (flag FI), if any. */
  fault: FaultKind | undefined;
  /** Time a delay fault held the request: the upstream attempt gets only the rest of the route's timeout. */
  faultDelayMs = 0;
  /** A bandwidth fault's pace of the response body, bytes per second (0: none). */
  throttle = 0;

  constructor(
    direction: Direction,
    req: EngineRequest,
    res: DownstreamResponse,
    startedAt: number,
    record: RequestRecord,
    host: string,
  ) {
    this.direction = direction;
    this.req = req;
    this.res = res;
    this.startedAt = startedAt;
    this.startedWall = Date.now();
    this.record = record;
    this.host = host;
  }

  /** The calling service: this sidecar's on outbound; on inbound the one a mesh peer vouched for, or "unknown". */
  get sourceService(): string {
    return this.record.sourceService;
  }

  get requestBytes(): number {
    return this.req.bodyBytes;
  }

  get responseBytes(): number {
    return this.res.bytes;
  }
}

/** The flags of a response the upstream gave: `X,FB` when a service fallback served it, `FI` when a fault touched it. */
export function forwardedFlags(ctx: RequestContext): string {
  const fb = ctx.via === undefined ? "" : `${ctx.via},FB`;
  if (ctx.fault === undefined) return fb;
  return fb === "" ? "FI" : `${fb},FI`;
}

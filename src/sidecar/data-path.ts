import { STATUS_CODES } from "node:http";
import type { Clock } from "../common/clock.ts";
import { errorMessage } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { type Authorizer, compileAuthorizer } from "./authz/compile.ts";
import type { Connector } from "./engine/connect.ts";
import type { DownstreamResponse } from "./engine/downstream.ts";
import { asGrpcReply, grpcCode, isGrpcServerFailure } from "./engine/h2/grpc.ts";
import type { PoolOptions } from "./engine/pool.ts";
import type { EngineRequest } from "./engine/request.ts";
import type { EngineHandler } from "./engine/server.ts";
import { type ConnectorFor, Upstreams } from "./engine/upstreams.ts";
import { compileFaultPlan, countFaults, EMPTY_PLAN, type FaultPlan } from "./faults/plan.ts";
import { FLAG_REASON } from "./flag-reply.ts";
import type { IdentitySource } from "./identity-table.ts";
import { inboundStages } from "./inbound.ts";
import { type SidecarMetrics, statusClass, statusClassIndex } from "./metrics.ts";
import { outboundStages } from "./outbound.ts";
import type { LocalReply } from "./resilience/fallback.ts";
import type { ResilienceMetrics } from "./resilience/metrics.ts";
import { FLAGS_HEADER } from "./resilience/replies.ts";
import { hostOf } from "./routing.ts";
import type { CompiledHttpRoute, CompiledSnapshot } from "./snapshot.ts";
import { attempt, grpcStatusIn } from "./stages/attempt.ts";
import type { StageEnv } from "./stages/env.ts";
import { fallback } from "./stages/fallback.ts";
import { chain } from "./stages/pipeline.ts";
import { RetryBudget } from "./stages/retry.ts";
import { type Answer, type Direction, forwardedFlags, RequestContext, type ResponseFlag } from "./stages/stage.ts";
import type { CounterSeries } from "./telemetry/series.ts";
import type { Telemetry } from "./telemetry/telemetry.ts";
import type { UpstreamEndpoint } from "./upstream/balancer.ts";

export interface DataPathOptions {
  clock: Clock;
  random?: () => number;
  /** Wall-clock ms (epoch) for experiments' deadlines; default Date.now. */
  wallNow?: () => number;
  logger: Logger;
  metrics: SidecarMetrics;
  resilience: ResilienceMetrics;
  telemetry: Telemetry;
  pool: PoolOptions;
  localService: string;
  /** This instance's id and labels: an inbound experiment may select some instances only. */
  instance: () => string;
  labels: Readonly<Record<string, string>>;
  /** False (`--no-faults`): no fault stage in either chain; the snapshot's faults are counted and logged, never applied. */
  faults?: boolean;
  inboundRoute: CompiledHttpRoute;
  /** Who a verified peer identity is, for AuthorizationPolicy `from.services`. */
  identities: IdentitySource;
}

/**
 * The engine's data path: the inbound and outbound stage chains over one
 * shared environment, the fallback stage for their local answers, and the
 * one completion point of every request (metrics, access log; telemetry
 * hooks in there).
 */
export class DataPath {
  readonly #o: DataPathOptions;
  readonly #env: StageEnv;
  readonly #budget = new RetryBudget();
  readonly #upstreams: Upstreams;
  readonly #outbound: (ctx: RequestContext) => void;
  readonly #inbound: (ctx: RequestContext) => void;
  readonly #fallback: ReturnType<typeof fallback>;
  readonly #attempt: ReturnType<typeof attempt>;
  #snapshot: CompiledSnapshot | undefined;
  #faults: FaultPlan = EMPTY_PLAN;
  #authorizer: Authorizer | undefined;
  #refusalLogged = false;

  constructor(o: DataPathOptions) {
    this.#o = o;
    this.#upstreams = new Upstreams(o.pool);
    const complete = (ctx: RequestContext) => this.complete(ctx);
    this.#env = {
      clock: o.clock,
      random: o.random ?? Math.random,
      wallNow: o.wallNow ?? Date.now,
      logger: o.logger,
      metrics: o.metrics,
      resilience: o.resilience,
      telemetry: o.telemetry,
      upstreams: this.#upstreams,
      budget: this.#budget,
      localService: o.localService,
      snapshot: () => this.#snapshot,
      faults: () => this.#faults,
      authorizer: () => this.#authorizer,
      inboundRoute: () => o.inboundRoute,
    };
    const answered = (ctx: RequestContext, a: Answer) => this.#answered(ctx, a);
    const failed = (ctx: RequestContext, err: unknown) => this.#failed(ctx, err);
    const faults = o.faults !== false;
    this.#outbound = chain(outboundStages(this.#env, complete, faults), answered, failed);
    this.#inbound = chain(inboundStages(this.#env, complete, faults), answered, failed);
    this.#fallback = fallback(this.#env);
    this.#attempt = attempt(this.#env, complete);
  }

  /** Requests in flight. */
  get active(): number {
    return this.#budget.active;
  }

  get upstreamSockets(): number {
    return this.#upstreams.sockets;
  }

  swap(snap: CompiledSnapshot): void {
    this.#snapshot = snap;
    this.#swapFaults(snap);
    this.#authorizer = compileAuthorizer(snap.resources, this.#o.localService, this.#o.identities);
    const kept = new Set<string>();
    for (const s of snap.services.values()) for (const e of s.endpoints) kept.add(e.key);
    for (const d of this.#o.inboundRoute.destinations) for (const e of d.balancer.endpoints) kept.add(e.key);
    this.#upstreams.retain(kept);
  }

  /** Compiles the snapshot's experiments for this sidecar, or with `--no-faults` counts what is refused (logged once). */
  #swapFaults(snap: CompiledSnapshot): void {
    const o = this.#o;
    if (o.faults !== false) {
      this.#faults = compileFaultPlan(snap.resources, {
        service: o.localService,
        instance: o.instance(),
        labels: o.labels,
      });
      return;
    }
    const refused = countFaults(snap.resources);
    o.metrics.faultsRefused.set(refused);
    if (refused > 0 && !this.#refusalLogged) {
      this.#refusalLogged = true;
      o.logger.warn({ faults: refused }, "faults refused (--no-faults): route faults and experiments are not applied");
    }
  }

  close(): void {
    this.#upstreams.close();
  }

  /**
   * Opens one connection to the endpoint through its pool (its transport: plain or mTLS, handshake done) and
   * leaves it idle there for the first request: the cold-start warm-up. Resolves false when it failed.
   */
  warm(e: UpstreamEndpoint): Promise<boolean> {
    const pool = this.#upstreams.pool(e);
    return new Promise((resolve) => {
      pool.acquire((err, conn) => {
        if (err !== undefined || conn === undefined) return resolve(false);
        pool.release(conn);
        resolve(true);
      }, true);
    });
  }

  /** How pools reach each endpoint (plain, or mTLS to a peer sidecar): pools are remade with it. */
  transportFor(key: string): Connector {
    return this.#upstreams.transportFor(key);
  }

  useTransports(connectorFor: ConnectorFor): void {
    this.#upstreams.useTransports(connectorFor);
  }

  handler(direction: Direction): EngineHandler {
    const run = direction === "inbound" ? this.#inbound : this.#outbound;
    const clock = this.#o.clock;
    const telemetry = this.#o.telemetry;
    return (req: EngineRequest, res: DownstreamResponse) => {
      this.#budget.active++;
      const h = req.head;
      const record = telemetry.begin(
        direction,
        req.method,
        req.authority,
        req.url,
        fieldList(h.names, h.values),
        req.socket.remoteAddress,
        req.socket.peerIdentity,
      );
      run(new RequestContext(direction, req, res, clock.now(), record, hostOf(req.authority)));
    };
  }

  #answered(ctx: RequestContext, a: Answer): void {
    // A stage that reported the request itself (the client left while a fault held it) has nothing to answer.
    if (ctx.reported) return;
    const r = this.#fallback(ctx, a);
    if ("rerouted" in r) {
      this.#attempt(ctx).then(
        (next) => {
          if (next !== undefined) this.#answered(ctx, next);
        },
        (err: unknown) => this.#failed(ctx, err),
      );
      return;
    }
    if (ctx.fault !== undefined && !r.flags.split(",").includes("FI")) {
      const flags = r.flags === "-" ? "FI" : `${r.flags},FI`;
      this.#reply(ctx, { ...r.reply, headers: { ...r.reply.headers, [FLAGS_HEADER]: flags } }, flags);
      return;
    }
    this.#reply(ctx, r.reply, r.flags);
  }

  #failed(ctx: RequestContext, err: unknown): void {
    this.#o.logger.error({ err: errorMessage(err), direction: ctx.direction, path: ctx.req.path }, "request failed");
    const body = Buffer.from(JSON.stringify({ error: "internal error" }));
    this.#reply(ctx, { status: 500, headers: { "content-type": "application/json" }, body }, "-");
  }

  /** Writes a local answer; the rest of an unread body is not drained: the connection closes after it. */
  #reply(ctx: RequestContext, reply: LocalReply, flags: string): void {
    let out = reply;
    if (ctx.req.grpc) {
      out = asGrpcReply(reply, flags, reasonOf(flags, reply.status));
      const code = out.headers["grpc-status"];
      ctx.record.grpcStatus = code === undefined ? (grpcStatusIn(out.trailers ?? "") ?? "") : String(code);
    }
    ctx.status = out.status;
    ctx.flags = flags;
    ctx.ending = "local";
    const res = ctx.res;
    if (res.headersSent || !res.writable) {
      res.destroy();
    } else {
      if (!ctx.req.complete) res.closeAfter();
      const fields: string[] = [];
      for (const [name, value] of Object.entries(out.headers)) {
        if (Array.isArray(value)) for (const v of value) fields.push(name, v);
        else fields.push(name, value);
      }
      ctx.headAt = this.#o.clock.now();
      res.writeHead(out.status, undefined, fields, out.body.length);
      res.end(out.body, out.trailers);
    }
    this.complete(ctx);
  }

  /**
   * The one completion point: after the response ended, or the request
   * failed or was abandoned. Everything a request reports is on `ctx`
   * (direction, services, endpoint, status, flags, attempts, bytes, times,
   * request id, request headers).
   */
  complete(ctx: RequestContext): void {
    if (ctx.ending === undefined) return;
    if (ctx.reported) {
      if (ctx.tunnel !== undefined) this.#tunnelClosed(ctx, ctx.tunnel);
      return;
    }
    ctx.reported = true;
    this.#budget.active--;
    this.#report(ctx);
    const m = this.#o.metrics;
    const { direction, service } = ctx;
    if (ctx.ending === "cancelled") {
      m.requestSeries(direction, service, "cancelled", "-").value++;
      return;
    }
    const seconds = ((ctx.headAt === 0 ? this.#o.clock.now() : ctx.headAt) - ctx.startedAt) / 1000;
    if (ctx.ending === "complete" && ctx.via === undefined && ctx.fault === undefined) {
      const f = m.forwarded(direction, service);
      m.duration.observe(f.duration, seconds);
      (f.requests[statusClassIndex(countedStatus(ctx))] as CounterSeries).value++;
      return;
    }
    // An unrouted Host is client input: never a label value.
    const label = ctx.flags === "NR" ? "-" : service;
    const flags = ctx.ending === "complete" ? forwardedFlags(ctx) : ctx.flags;
    m.requestSeries(direction, label, statusClass(countedStatus(ctx)), flags).value++;
    m.duration.observe(m.durationSeries(direction, label), seconds);
  }

  /** Hands what the request did to telemetry: request metrics, access log, span. */
  #report(ctx: RequestContext): void {
    const r = ctx.record;
    const tunnelled = ctx.status === 101 && ctx.ending === "complete";
    r.destinationService = ctx.service === "-" ? r.destinationService : ctx.service;
    r.endpoint = ctx.endpoint;
    r.attempts = ctx.attempts;
    r.requestBytes = ctx.requestBytes;
    r.responseBytes = ctx.responseBytes;
    r.status = ctx.res.headersSent ? ctx.status : 0;
    if (ctx.ending === "cancelled") r.flags = "DC";
    else if (ctx.ending === "complete") r.flags = forwardedFlags(ctx);
    else r.flags = ctx.flags === "-" ? "" : ctx.flags;
    // A tunnel is reported as a connection now, and as a request when it closes (with its bytes).
    if (tunnelled) this.#o.telemetry.connectionOpened(r);
    else this.#o.telemetry.complete(r);
  }

  #tunnelClosed(ctx: RequestContext, bytes: { received: number; sent: number }): void {
    ctx.tunnel = undefined;
    const r = ctx.record;
    r.requestBytes = bytes.received;
    r.responseBytes = bytes.sent;
    this.#o.telemetry.connectionClosed({ ...r, receivedBytes: bytes.received, sentBytes: bytes.sent });
    this.#o.telemetry.complete(r);
  }
}

/**
 * The status the sidecar's per-service figures (and so the dashboard's error rate) count: a gRPC call that
 * failed on the server side counts as a 5xx, though its HTTP status is 200.
 */
function countedStatus(ctx: RequestContext): number {
  if (!ctx.req.grpc || ctx.status !== 200) return ctx.status;
  return isGrpcServerFailure(grpcCode(ctx.record.grpcStatus)) ? 503 : 200;
}

/** What a local answer says in words: its first flag's reason, else its HTTP status's. */
function reasonOf(flags: string, status: number): string {
  const comma = flags.indexOf(",");
  const flag = (comma < 0 ? flags : flags.slice(0, comma)) as ResponseFlag;
  return FLAG_REASON[flag] ?? STATUS_CODES[status] ?? "local reply";
}

/** The request's fields as the flat [name, value, ...] list telemetry reads (names lower-cased). */
function fieldList(names: readonly string[], values: readonly string[]): string[] {
  const out = new Array<string>(names.length * 2);
  for (let i = 0; i < names.length; i++) {
    out[2 * i] = names[i] as string;
    out[2 * i + 1] = values[i] as string;
  }
  return out;
}

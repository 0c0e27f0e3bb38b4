import type { Clock } from "../common/clock.ts";
import { errorMessage } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import type { PoolOptions } from "./engine/pool.ts";
import type { EngineRequest } from "./engine/request.ts";
import type { EngineResponse } from "./engine/response.ts";
import type { EngineHandler } from "./engine/server.ts";
import { type ConnectorFor, Upstreams } from "./engine/upstreams.ts";
import { inboundStages } from "./inbound.ts";
import { type SidecarMetrics, statusClass, statusClassIndex } from "./metrics.ts";
import { outboundStages } from "./outbound.ts";
import type { LocalReply } from "./resilience/fallback.ts";
import type { ResilienceMetrics } from "./resilience/metrics.ts";
import { hostOf } from "./routing.ts";
import type { CompiledHttpRoute, CompiledSnapshot } from "./snapshot.ts";
import { attempt } from "./stages/attempt.ts";
import type { StageEnv } from "./stages/env.ts";
import { fallback } from "./stages/fallback.ts";
import { chain } from "./stages/pipeline.ts";
import { RetryBudget } from "./stages/retry.ts";
import { type Answer, type Direction, RequestContext } from "./stages/stage.ts";
import type { Telemetry } from "./telemetry/telemetry.ts";

export interface DataPathOptions {
  clock: Clock;
  random?: () => number;
  logger: Logger;
  metrics: SidecarMetrics;
  resilience: ResilienceMetrics;
  telemetry: Telemetry;
  pool: PoolOptions;
  localService: string;
  inboundRoute: CompiledHttpRoute;
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

  constructor(o: DataPathOptions) {
    this.#o = o;
    this.#upstreams = new Upstreams(o.pool);
    const complete = (ctx: RequestContext) => this.complete(ctx);
    this.#env = {
      clock: o.clock,
      random: o.random ?? Math.random,
      logger: o.logger,
      metrics: o.metrics,
      resilience: o.resilience,
      telemetry: o.telemetry,
      upstreams: this.#upstreams,
      budget: this.#budget,
      localService: o.localService,
      snapshot: () => this.#snapshot,
      inboundRoute: () => o.inboundRoute,
    };
    const answered = (ctx: RequestContext, a: Answer) => this.#answered(ctx, a);
    const failed = (ctx: RequestContext, err: unknown) => this.#failed(ctx, err);
    this.#outbound = chain(outboundStages(this.#env, complete), answered, failed);
    this.#inbound = chain(inboundStages(this.#env, complete), answered, failed);
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
    const kept = new Set<string>();
    for (const s of snap.services.values()) for (const e of s.endpoints) kept.add(e.key);
    for (const d of this.#o.inboundRoute.destinations) for (const e of d.balancer.endpoints) kept.add(e.key);
    this.#upstreams.retain(kept);
  }

  close(): void {
    this.#upstreams.close();
  }

  /** How pools reach each endpoint (plain, or mTLS to a peer sidecar): pools are remade with it. */
  useTransports(connectorFor: ConnectorFor): void {
    this.#upstreams.useTransports(connectorFor);
  }

  handler(direction: Direction): EngineHandler {
    const run = direction === "inbound" ? this.#inbound : this.#outbound;
    const clock = this.#o.clock;
    const telemetry = this.#o.telemetry;
    return (req: EngineRequest, res: EngineResponse) => {
      this.#budget.active++;
      const h = req.head;
      const record = telemetry.begin(
        direction,
        req.method,
        req.authority,
        req.url,
        fieldList(h.names, h.values),
        req.socket.remoteAddress,
      );
      run(new RequestContext(direction, req, res, clock.now(), record, hostOf(req.authority)));
    };
  }

  #answered(ctx: RequestContext, a: Answer): void {
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
    this.#reply(ctx, r.reply, r.flags);
  }

  #failed(ctx: RequestContext, err: unknown): void {
    this.#o.logger.error({ err: errorMessage(err), direction: ctx.direction, path: ctx.req.path }, "request failed");
    const body = Buffer.from(JSON.stringify({ error: "internal error" }));
    this.#reply(ctx, { status: 500, headers: { "content-type": "application/json" }, body }, "-");
  }

  /** Writes a local answer; the rest of an unread body is not drained: the connection closes after it. */
  #reply(ctx: RequestContext, out: LocalReply, flags: string): void {
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
      res.end(out.body);
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
      m.requests.labels(direction, service, "cancelled", "-").inc();
      return;
    }
    const seconds = ((ctx.headAt === 0 ? this.#o.clock.now() : ctx.headAt) - ctx.startedAt) / 1000;
    if (ctx.ending === "complete" && ctx.via === undefined) {
      const f = m.forwarded(direction, service);
      f.duration.observe(seconds);
      f.requests[statusClassIndex(ctx.status)]?.inc();
      return;
    }
    // An unrouted Host is client input: never a label value.
    const label = ctx.flags === "NR" ? "-" : service;
    const flags = ctx.ending === "complete" ? `${ctx.via},FB` : ctx.flags;
    m.requests.labels(direction, label, statusClass(ctx.status), flags).inc();
    m.duration.labels(direction, label).observe(seconds);
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
    else if (ctx.ending === "complete") r.flags = ctx.via === undefined ? "" : `${ctx.via},FB`;
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

/** The request's fields as the flat [name, value, ...] list telemetry reads (names lower-cased). */
function fieldList(names: readonly string[], values: readonly string[]): string[] {
  const out = new Array<string>(names.length * 2);
  for (let i = 0; i < names.length; i++) {
    out[2 * i] = names[i] as string;
    out[2 * i + 1] = values[i] as string;
  }
  return out;
}

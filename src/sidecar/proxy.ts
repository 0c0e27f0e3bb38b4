import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type Server from "http-proxy";
import type { Pool } from "undici";
import UndiciPool from "undici/lib/dispatcher/pool.js";
import type { Clock, TimerHandle } from "../common/clock.ts";
import { errorMessage } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { FLAG_REASON, FLAG_STATUS, flagReply } from "./flag-reply.ts";
import { downstreamHeaders, upstreamHeaders } from "./headers.ts";
import { type ForwardedMetrics, type SidecarMetrics, statusClass, statusClassIndex } from "./metrics.ts";
import { admitRate, rateLimitKeyOf } from "./resilience/admission.ts";
import type { CompiledPolicy } from "./resilience/compile.ts";
import { FALLBACK_HEADER, type LocalReply } from "./resilience/fallback.ts";
import { guardAttempt } from "./resilience/guard.ts";
import type { ResilienceMetrics } from "./resilience/metrics.ts";
import {
  circuitOpenReply,
  FLAGS_HEADER,
  fallbackReply,
  overflowReply,
  type ResilienceFlag,
  TRIGGER_OF_FLAG,
} from "./resilience/replies.ts";
import type { Recording, StaleCache } from "./resilience/stale-cache.ts";
import { hostOf, pathOf } from "./routing.ts";
import {
  type CompiledHttpRoute,
  type CompiledSnapshot,
  type Destination,
  matchRoute,
  splitDestination,
} from "./snapshot.ts";
import { attemptFlag, shouldRetry } from "./stages/retry.ts";
import type { Direction, ResponseFlag } from "./stages/stage.ts";
import type { RequestRecord } from "./telemetry/record.ts";
import { SOURCE_HEADER } from "./telemetry/source-identity.ts";
import type { Telemetry } from "./telemetry/telemetry.ts";
import { isTraceHeader } from "./telemetry/trace-context.ts";
import type { UpstreamEndpoint } from "./upstream/balancer.ts";
import {
  type AttemptError,
  AttemptTimeoutError,
  attemptErrorOf,
  ClientGoneError,
  type StreamEnd,
  UpstreamExchange,
} from "./upstream/exchange.ts";

export interface ProxyOptions {
  clock: Clock;
  logger: Logger;
  metrics: SidecarMetrics;
  resilience: ResilienceMetrics;
  telemetry: Telemetry;
  connectTimeoutMs: number;
  /** Keep-alive sockets per endpoint. */
  maxSocketsPerEndpoint: number;
  idleTimeoutMs: number;
}

interface Outcome {
  status?: number;
  error?: AttemptError;
  endpoint?: string;
  exchange?: UpstreamExchange;
  noEndpoint?: true;
  /** Why the request could not be written upstream at all. */
  invalid?: string;
  /** The client left first; neither a success nor a failure of the upstream. */
  cancelled?: true;
  /** The response was final (no retry could replace it) and is already streaming to the client. */
  streamed?: true;
}

const NO_ENDPOINT: Outcome = { noEndpoint: true };

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
/** Envoy's retry budget: retries never exceed 20 % of active requests, with at least 3 allowed. */
const RETRY_BUDGET = 0.2;
/** The largest request body held for a retry (Linkerd's limit); a larger one streams and is not retried. */
const RETRY_BODY_LIMIT = 64 * 1024;
const MIN_RETRY_CONCURRENCY = 3;

/** The body length the client declared: 0 without a body, unbounded when chunked. */
function bodyLength(req: IncomingMessage): number {
  if (req.headers["transfer-encoding"] !== undefined) return Number.POSITIVE_INFINITY;
  const len = req.headers["content-length"];
  return len === undefined ? 0 : Number(len);
}

/** The whole body, or undefined when the client left before sending all of it. */
function readWhole(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.once("end", () => resolve(Buffer.concat(chunks)));
    req.once("close", () => {
      if (!req.complete) resolve(undefined);
    });
  });
}

/**
 * The HTTP data path: route, split, balance and forward over a keep-alive
 * undici pool per endpoint (bench:proxy measured it against http-proxy and
 * node:http for plain HTTP), and WebSocket upgrades through http-proxy on the
 * same decision.
 */
export class DataPath {
  readonly #o: ProxyOptions;
  readonly #pools = new Map<string, Pool>();
  readonly #responseClosed = () => {
    this.#active--;
  };
  /** The WebSocket relay, made at the first upgrade: most sidecars never load http-proxy. */
  #ws: Promise<Server> | undefined;
  /** Upgrade requests handed to the relay, until it sends them upstream. */
  readonly #upgrades = new WeakMap<IncomingMessage, RequestRecord>();
  #active = 0;
  #retrying = 0;
  #snapshot: CompiledSnapshot | undefined;
  /** The inbound side's single route to the local app. */
  inboundRoute: CompiledHttpRoute | undefined;
  localService = "";

  constructor(options: ProxyOptions) {
    this.#o = options;
  }

  #wsRelay(): Promise<Server> {
    this.#ws ??= import("http-proxy").then(({ default: httpProxy }) => {
      const relay = httpProxy.createProxyServer({ ws: true, xfwd: true });
      // The upstream's answer to an upgrade: 101 opens a relayed connection, anything else is a plain response.
      relay.on("proxyReqWs", (proxyReq, req) => {
        const rec = this.#upgrades.get(req);
        if (rec === undefined) return;
        this.#upgrades.delete(req);
        proxyReq.once("response", (r) => {
          rec.status = r.statusCode ?? 0;
        });
        proxyReq.once("upgrade", () => {
          rec.status = 101;
          this.#o.telemetry.connectionOpened(rec);
        });
      });
      relay.on("error", (err, _req, target) => {
        this.#o.logger.debug({ err: err.message }, "websocket proxy error");
        if (target !== undefined && "destroy" in target) (target as Duplex).destroy();
      });
      return relay;
    });
    return this.#ws;
  }

  get active(): number {
    return this.#active;
  }

  /**
   * Swaps the snapshot in. The pools of endpoints it no longer has are
   * closed: they take no new request and end once their requests are done.
   */
  swap(snap: CompiledSnapshot): void {
    this.#snapshot = snap;
    const kept = new Set<string>();
    for (const s of snap.services.values()) for (const e of s.endpoints) kept.add(e.key);
    for (const d of this.inboundRoute?.destinations ?? []) for (const e of d.balancer.endpoints) kept.add(e.key);
    for (const [key, pool] of this.#pools) {
      if (kept.has(key)) continue;
      this.#pools.delete(key);
      pool.close().catch(() => {});
    }
  }

  close(): void {
    for (const p of this.#pools.values()) p.destroy().catch(() => {});
    void this.#ws?.then((relay) => relay.close());
  }

  handle(direction: Direction, req: IncomingMessage, res: ServerResponse): void {
    const startedAt = this.#o.clock.now();
    this.#active++;
    // `close` comes once per response: `on` with one shared listener, not a `once` wrapper per request.
    res.on("close", this.#responseClosed);
    const rec = this.#begin(direction, req);
    res.once("close", () => this.#complete(rec, res));
    const route = this.#route(direction, req);
    if (route === undefined) {
      this.#reply(direction, req, res, rec, hostOf(req.headers.host), "NR", undefined, undefined);
      return;
    }
    const dest = splitDestination(route);
    if (dest === undefined) {
      this.#reply(direction, req, res, rec, hostOf(req.headers.host), "UH", undefined, undefined);
      return;
    }
    const policy = direction === "inbound" ? this.#snapshot?.policies?.forService(this.localService) : dest.policy;
    const rl = direction === "inbound" ? policy?.inboundRateLimit : policy?.rateLimit;
    if (rl === undefined || policy === undefined) {
      void this.#forward(direction, req, res, startedAt, rec, route, dest);
      return;
    }
    const admitted = admitRate(
      rl,
      rateLimitKeyOf(policy.rateLimitKey, req.headers, rec.sourceService),
      { service: dest.service, target: policy.target, direction },
      this.#o.resilience,
    );
    if (admitted === true) {
      void this.#forward(direction, req, res, startedAt, rec, route, dest);
      return;
    }
    void admitted.then((r) => {
      if (r === true) return this.#forward(direction, req, res, startedAt, rec, route, dest);
      this.#reply(direction, req, res, rec, dest.service, "RL", policy, r);
    });
  }

  #begin(direction: Direction, req: IncomingMessage): RequestRecord {
    return this.#o.telemetry.begin(
      direction,
      req.method ?? "GET",
      req.headers.host ?? "",
      req.url ?? "/",
      req.rawHeaders,
      req.socket.remoteAddress,
    );
  }

  /** The response ended or the client left: the one completion of the request's telemetry. */
  #complete(rec: RequestRecord, res: ServerResponse): void {
    rec.status = res.headersSent ? res.statusCode : 0;
    // Envoy's DC: the client went away before the response ended.
    if (!res.writableFinished && rec.flags === "") rec.flags = "DC";
    this.#o.telemetry.complete(rec);
  }

  #route(direction: Direction, req: IncomingMessage): CompiledHttpRoute | undefined {
    if (direction === "inbound") return this.inboundRoute;
    const snap = this.#snapshot;
    if (snap === undefined) return undefined;
    return matchRoute(snap, hostOf(req.headers.host), req, pathOf(req.url ?? "/"));
  }

  async #forward(
    direction: Direction,
    req: IncomingMessage,
    res: ServerResponse,
    startedAt: number,
    rec: RequestRecord,
    route: CompiledHttpRoute,
    dest: Destination,
    via?: ResilienceFlag,
  ): Promise<void> {
    const clock = this.#o.clock;
    rec.destinationService = dest.service;
    const headers = upstreamHeaders(req);
    this.#o.telemetry.outgoingHeaders(rec, headers);
    const hash = route.hashKey?.(req);
    const retry = route.retry;
    const length = bodyLength(req);
    const body = length > 0;
    const methodRetriable = retry !== undefined && (retry.nonIdempotent || IDEMPOTENT.has(req.method ?? ""));
    // A retry must send the body again: a small one is read whole first (as Linkerd, up to 64 KiB); a larger or
    // chunked one streams, and is not retried.
    let held: Buffer | undefined;
    if (body && methodRetriable && length <= RETRY_BODY_LIMIT) {
      held = await readWhole(req);
      if (held === undefined) {
        this.#o.metrics.requests.labels(direction, dest.service, "cancelled", "-").inc();
        return;
      }
    }
    const retriable = methodRetriable && (!body || held !== undefined);
    const deadline = startedAt + route.timeoutMs;
    let current: UpstreamExchange | undefined;
    let timedOut = false;
    let settled = false;
    let overall: TimerHandle | undefined;
    const onTimeout = () => {
      timedOut = true;
      current?.abort(new AttemptTimeoutError("route timeout"));
    };
    // As Envoy's, the route timeout runs from the end of the request: an upload takes as long as it takes.
    if (body && !req.readableEnded) {
      req.once("end", () => {
        if (!settled) overall = clock.setTimeout(onTimeout, route.timeoutMs);
      });
    } else {
      overall = clock.setTimeout(onTimeout, route.timeoutMs);
    }
    res.on("close", () => {
      if (!res.writableFinished) current?.abort(new ClientGoneError("client closed the connection"));
    });
    const policy = dest.policy;
    let inRetry = false;
    try {
      for (let attempt = 0; ; attempt++) {
        // A response no retry could replace goes to the client from inside undici's head callback: its body
        // is never paused, and nothing waits for the breaker's promise chain.
        const streamIfFinal = (x: UpstreamExchange): boolean => {
          if (timedOut || !res.writable) return false;
          if (retriable && attempt < (retry?.attempts ?? 0) && shouldRetry(retry?.on, x.status, undefined))
            return false;
          settled = true;
          if (overall !== undefined) clock.clearTimeout(overall);
          this.#stream(direction, req, res, x, rec, dest.service, policy, via);
          return true;
        };
        const guarded = await guardAttempt(
          policy,
          () =>
            this.#attempt(
              req,
              rec,
              dest,
              hash,
              headers,
              held ?? (body && attempt === 0 ? req : null),
              retry?.perTryTimeoutMs,
              streamIfFinal,
              (r) => {
                current = r;
              },
            ),
          this.#o.resilience,
        );
        if (inRetry) {
          inRetry = false;
          this.#endRetry(policy);
        }
        if (guarded.kind === "open") {
          this.#reply(direction, req, res, rec, dest.service, "CB", policy, circuitOpenReply(dest.service), via);
          return;
        }
        if (guarded.kind === "overflow") {
          this.#reply(
            direction,
            req,
            res,
            rec,
            dest.service,
            "UO",
            policy,
            overflowReply(dest.service, guarded.limit),
            via,
          );
          return;
        }
        const out = guarded.outcome;
        if (out.streamed === true) return;
        if (out.noEndpoint === true) {
          this.#reply(direction, req, res, rec, dest.service, "UH", policy, undefined, via);
          return;
        }
        if (out.cancelled === true) {
          this.#o.metrics.requests.labels(direction, dest.service, "cancelled", "-").inc();
          return;
        }
        if (out.invalid !== undefined) {
          this.#rejectRequest(direction, req, res, rec, dest.service, out.invalid);
          return;
        }
        const flag = attemptFlag(timedOut, out.error);
        const canRetry =
          retriable &&
          !timedOut &&
          attempt < (retry?.attempts ?? 0) &&
          res.writable &&
          shouldRetry(retry?.on, out.status, out.error) &&
          clock.now() < deadline;
        if (canRetry && this.#retryAllowed(dest.service, policy)) {
          out.exchange?.discard();
          const cap = Math.min(retry?.maxMs ?? 0, (retry?.baseMs ?? 0) * 2 ** attempt);
          await new Promise<void>((resolve) => clock.setTimeout(resolve, Math.random() * cap));
          inRetry = true;
          if (!res.writable) return;
          if (timedOut) {
            this.#reply(direction, req, res, rec, dest.service, "UT", policy, undefined, via);
            return;
          }
          continue;
        }
        if (flag !== undefined || out.exchange === undefined) {
          out.exchange?.discard();
          this.#reply(direction, req, res, rec, dest.service, flag ?? "UR", policy, undefined, via);
          return;
        }
        this.#stream(direction, req, res, out.exchange, rec, dest.service, policy, via);
        return;
      }
    } finally {
      settled = true;
      if (overall !== undefined) clock.clearTimeout(overall);
      if (inRetry) this.#endRetry(policy);
    }
  }

  #endRetry(policy: CompiledPolicy | undefined): void {
    this.#retrying--;
    policy?.limits?.releaseRetry();
  }

  #retryAllowed(service: string, policy: CompiledPolicy | undefined): boolean {
    const budget = Math.max(MIN_RETRY_CONCURRENCY, this.#active * RETRY_BUDGET);
    if (this.#retrying >= budget || policy?.limits?.acquireRetry() === false) {
      this.#o.metrics.retries.labels(service, "budget_exhausted").inc();
      return false;
    }
    this.#retrying++;
    this.#o.metrics.retries.labels(service, "retried").inc();
    return true;
  }

  #attempt(
    req: IncomingMessage,
    rec: RequestRecord,
    dest: Destination,
    hash: number | undefined,
    headers: string[],
    body: Buffer | IncomingMessage | null,
    perTryTimeoutMs: number | undefined,
    streamIfFinal: (x: UpstreamExchange) => boolean,
    track: (x: UpstreamExchange) => void,
  ): Promise<Outcome> {
    const endpoint = dest.balancer.pick(hash, dest.usable);
    if (endpoint === undefined) return Promise.resolve(NO_ENDPOINT);
    const clock = this.#o.clock;
    return new Promise<Outcome>((resolve) => {
      endpoint.active++;
      let tryTimer: TimerHandle | undefined;
      const exchange = new UpstreamExchange((x) => {
        if (tryTimer !== undefined) clock.clearTimeout(tryTimer);
        endpoint.active--;
        if (x.error !== undefined) resolve({ error: x.error, endpoint: endpoint.key });
        else if (x.invalid !== undefined) resolve({ invalid: x.invalid, endpoint: endpoint.key });
        else if (x.cancelled) resolve({ cancelled: true, endpoint: endpoint.key });
        else if (streamIfFinal(x)) resolve({ status: x.status, endpoint: endpoint.key, streamed: true });
        else resolve({ status: x.status, endpoint: endpoint.key, exchange: x });
      });
      track(exchange);
      rec.attempts++;
      rec.endpoint = endpoint;
      rec.upstream = exchange;
      if (perTryTimeoutMs !== undefined) {
        tryTimer = clock.setTimeout(() => exchange.abort(new AttemptTimeoutError("per-try timeout")), perTryTimeoutMs);
      }
      this.#pool(endpoint).dispatch(
        {
          method: req.method ?? "GET",
          path: req.url?.charCodeAt(0) === 47 ? req.url : pathAndQuery(req.url ?? "/"),
          headers,
          body,
        },
        exchange,
      );
    });
  }

  #pool(e: UpstreamEndpoint): Pool {
    let p = this.#pools.get(e.key);
    if (p === undefined) {
      const host = e.address.includes(":") ? `[${e.address}]` : e.address;
      p = new UndiciPool(`http://${host}:${e.port}`, {
        connections: this.#o.maxSocketsPerEndpoint,
        connectTimeout: this.#o.connectTimeoutMs,
        keepAliveTimeout: this.#o.idleTimeoutMs,
        // The route timeout (and per-try timeout) bound the wait for the response head.
        headersTimeout: 0,
      });
      this.#pools.set(e.key, p);
    }
    return p;
  }

  #stream(
    direction: Direction,
    req: IncomingMessage,
    res: ServerResponse,
    up: UpstreamExchange,
    rec: RequestRecord,
    service: string,
    policy: CompiledPolicy | undefined,
    via: ResilienceFlag | undefined,
  ): void {
    const status = up.status;
    if (via !== undefined) rec.flags = `${via},FB`;
    const headers = downstreamHeaders(up.rawHeaders, up.headers);
    if (via !== undefined) headers.push(FLAGS_HEADER, `${via},FB`, FALLBACK_HEADER, "service");
    res.writeHead(status, up.statusMessage === "" ? undefined : up.statusMessage, headers);
    const action = policy?.fallback?.action;
    const tap =
      action?.kind === "stale-cache" && status >= 200 && status < 300
        ? staleRecording(action.cache, req, status, up.headers)
        : undefined;
    const m = this.#o.metrics.forwarded(direction, service);
    m.duration.observe((this.#o.clock.now() - rec.startMs) / 1000);
    up.pipeTo(res, tap, (how) => this.#streamEnded(how, direction, rec, service, status, via, m));
  }

  /** Counts a forwarded response once it ended; one the upstream cut off is flagged `UR` and logged. */
  #streamEnded(
    how: StreamEnd,
    direction: Direction,
    rec: RequestRecord,
    service: string,
    status: number,
    via: ResilienceFlag | undefined,
    m: ForwardedMetrics,
  ): void {
    const requests = this.#o.metrics.requests;
    if (how === "client-gone") {
      requests.labels(direction, service, "cancelled", "-").inc();
      return;
    }
    if (how === "complete") {
      if (via === undefined) m.requests[statusClassIndex(status)]?.inc();
      else requests.labels(direction, service, statusClass(status), `${via},FB`).inc();
      return;
    }
    const flags = via === undefined ? "UR" : `${via},FB,UR`;
    rec.flags = flags;
    requests.labels(direction, service, statusClass(status), flags).inc();
  }

  /** A request no HTTP/1.1 upstream can be sent (undici refused to write it): the client's error, not the upstream's. */
  #rejectRequest(
    direction: Direction,
    req: IncomingMessage,
    res: ServerResponse,
    rec: RequestRecord,
    service: string,
    reason: string,
  ): void {
    this.#o.metrics.requests.labels(direction, service, "4xx", "-").inc();
    this.#o.metrics.duration.labels(direction, service).observe((this.#o.clock.now() - rec.startMs) / 1000);
    this.#o.logger.info({ direction, method: req.method, path: req.url, reason, service }, "request not forwardable");
    if (res.headersSent || !res.writable) {
      res.destroy();
      return;
    }
    const body = Buffer.from(JSON.stringify({ error: "request cannot be forwarded", reason, service }));
    rec.responseBytes = body.length;
    res.writeHead(400, { "content-type": "application/json", "content-length": body.length, connection: "close" });
    res.end(body);
  }

  /** Answers locally with a flagged response, or with the policy's fallback for that flag. */
  #reply(
    direction: Direction,
    req: IncomingMessage,
    res: ServerResponse,
    rec: RequestRecord,
    service: string,
    flag: ResponseFlag,
    policy: CompiledPolicy | undefined,
    reply: LocalReply | undefined,
    via?: ResilienceFlag,
  ): void {
    let out = reply;
    if (via === undefined && isResilienceFlag(flag) && this.#fallbackToService(direction, req, res, rec, flag, policy))
      return;
    if (policy?.fallback !== undefined && isResilienceFlag(flag)) {
      const fb = fallbackReply(
        policy.fallback,
        flag,
        { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers },
        this.#o.clock.now(),
        this.#o.resilience,
      );
      if (fb !== undefined) out = fb;
    }
    out ??= flagReply(flag, service);
    const flags = String(out.headers[FLAGS_HEADER] ?? flag);
    // An unrouted Host is client input: never a label value.
    const label = flag === "NR" ? "-" : service;
    this.#o.metrics.requests.labels(direction, label, statusClass(out.status), flags).inc();
    this.#o.metrics.duration.labels(direction, label).observe((this.#o.clock.now() - rec.startMs) / 1000);
    if (flag !== "NR") rec.destinationService = service;
    rec.flags = flags;
    rec.responseBytes = out.body.length;
    if (res.headersSent || !res.writable) {
      res.destroy();
      return;
    }
    // Taken before the response ends: by `finish` the response has let go of its socket (and a request whose
    // body the upstream refused was destroyed, and let go of it, already).
    const socket = res.socket;
    res.writeHead(out.status, { ...out.headers, "content-length": out.body.length });
    res.end(out.body);
    // Whatever the client still sends is not read by anyone: close rather than drain an unbounded body.
    if (!req.complete && socket !== null) res.once("finish", () => socket.destroy());
  }

  /**
   * A service fallback: the request goes to the fallback service's route
   * (balancer, breaker, limits) instead. Only one hop, so fallbacks never
   * chain, and never after the request body was sent upstream (it is gone).
   */
  #fallbackToService(
    direction: Direction,
    req: IncomingMessage,
    res: ServerResponse,
    rec: RequestRecord,
    flag: ResilienceFlag,
    policy: CompiledPolicy | undefined,
  ): boolean {
    const fallback = policy?.fallback;
    if (fallback?.action.kind !== "service") return false;
    const trigger = TRIGGER_OF_FLAG[flag];
    if (!fallback.handles(trigger) || (flag === "UT" && bodyLength(req) > 0) || !res.writable) return false;
    const snap = this.#snapshot;
    const route =
      snap === undefined ? undefined : matchRoute(snap, fallback.action.service, req, pathOf(req.url ?? "/"));
    const dest = route === undefined ? undefined : splitDestination(route);
    if (route === undefined || dest === undefined) return false;
    this.#o.resilience.fallbacks.labels(trigger, "service").inc();
    void this.#forward(direction, req, res, this.#o.clock.now(), rec, route, dest, flag);
    return true;
  }

  upgrade(direction: Direction, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    const rec = this.#begin(direction, req);
    socket.once("close", () => this.#upgradeClosed(rec, socket as Socket));
    const route = this.#route(direction, req);
    const dest = route === undefined ? undefined : splitDestination(route);
    const endpoint = dest?.balancer.pick(route?.hashKey?.(req), dest.usable);
    if (route === undefined || dest === undefined || endpoint === undefined) {
      const flag: ResponseFlag = route === undefined ? "NR" : "UH";
      this.#upgradeReply(direction, req, socket, rec, flag, flag === "NR" ? "-" : (dest?.service ?? "-"));
      return;
    }
    rec.destinationService = dest.service;
    rec.endpoint = endpoint;
    rec.attempts = 1;
    const target = `http://${endpoint.address}:${endpoint.port}`;
    const headers = this.#upgradeHeaders(rec, req);
    this.#upgrades.set(req, rec);
    // The socket stays paused until the relay takes it: nothing it sends is lost meanwhile.
    this.#wsRelay().then(
      (relay) =>
        relay.ws(req, socket, head, { target, headers }, (err) => {
          const code = (err as NodeJS.ErrnoException).code ?? "";
          this.#o.logger.debug({ err: err.message, code, service: dest.service }, "websocket relay error");
          // Nothing went to the client yet (no 101, no upstream answer): it hears why, as an HTTP client would.
          if ((socket as Socket).bytesWritten === 0 && socket.writable) {
            const flag = attemptErrorOf(code) === "connect" ? "UF" : "UR";
            this.#upgradeReply(direction, req, socket, rec, flag, dest.service);
          }
        }),
      (err: unknown) => {
        this.#o.logger.error({ err: errorMessage(err) }, "websocket relay unavailable");
        socket.destroy();
      },
    );
  }

  /**
   * The upgrade request's headers for the relay: telemetry's (caller, request
   * id, trace) replace what the client sent under those names.
   */
  #upgradeHeaders(rec: RequestRecord, req: IncomingMessage): Record<string, string> {
    const set: string[] = [];
    this.#o.telemetry.outgoingHeaders(rec, set);
    delete req.headers[SOURCE_HEADER];
    for (const name of Object.keys(req.headers)) if (isTraceHeader(name)) delete req.headers[name];
    const out: Record<string, string> = {};
    for (let i = 0; i < set.length; i += 2) out[set[i] as string] = set[i + 1] as string;
    return out;
  }

  /** The upgraded connection (or the refused upgrade) ended: bytes both ways, then the request's telemetry. */
  #upgradeClosed(rec: RequestRecord, socket: Socket): void {
    rec.requestBytes = socket.bytesRead;
    rec.responseBytes = socket.bytesWritten;
    if (rec.status === 0 && rec.flags === "") rec.flags = "DC";
    if (rec.status === 101)
      this.#o.telemetry.connectionClosed({ ...rec, receivedBytes: socket.bytesRead, sentBytes: socket.bytesWritten });
    this.#o.telemetry.complete(rec);
  }

  /** A flagged answer to an upgrade request, written on the raw socket (no ServerResponse exists for it). */
  #upgradeReply(
    direction: Direction,
    req: IncomingMessage,
    socket: Duplex,
    rec: RequestRecord,
    flag: ResponseFlag,
    service: string,
  ): void {
    const status = FLAG_STATUS[flag];
    const body = flagReply(flag, service === "-" ? hostOf(req.headers.host) : service).body;
    this.#o.metrics.requests.labels(direction, service, statusClass(status), flag).inc();
    rec.status = status;
    rec.flags = flag;
    socket.end(
      `HTTP/1.1 ${status} ${FLAG_REASON[flag]}\r\ncontent-type: application/json\r\n${FLAGS_HEADER}: ${flag}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body.toString()}`,
    );
  }
}

/** A copy of a 2xx GET/HEAD response for the stale cache, fed while the body streams to the client. */
function staleRecording(
  cache: StaleCache,
  req: IncomingMessage,
  status: number,
  headers: IncomingMessage["headers"] | undefined,
): Recording | undefined {
  const key = cache.keyFor(req.method ?? "GET", req.url ?? "/", req.headers);
  return key === undefined ? undefined : cache.record(key, status, headers ?? {});
}

function isResilienceFlag(f: ResponseFlag): f is ResilienceFlag {
  return f === "RL" || f === "CB" || f === "UO" || f === "UH" || f === "UT";
}

function pathAndQuery(url: string): string {
  const scheme = url.indexOf("://");
  if (scheme < 0) return url;
  const slash = url.indexOf("/", scheme + 3);
  return slash < 0 ? "/" : url.slice(slash);
}

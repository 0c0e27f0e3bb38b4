import type { OutgoingHttpHeaders } from "node:http2";
import type { TimerHandle } from "../../common/clock.ts";
import type { AttemptError, StreamEnd } from "../engine/attempt-error.ts";
import { BodyCopy, type BodySource } from "../engine/body-copy.ts";
import { RawExchange, type Tap } from "../engine/exchange.ts";
import { H2Exchange } from "../engine/h2/exchange.ts";
import { grpcCode, grpcTimeoutMs, isGrpcServerFailure, isOneGrpcMessage } from "../engine/h2/grpc.ts";
import type { Head } from "../engine/head.ts";
import { EngineRequest } from "../engine/request.ts";
import { ThrottledSink } from "../faults/throttle.ts";
import { guardAttempt } from "../resilience/guard.ts";
import { circuitOpenReply, overflowReply } from "../resilience/replies.ts";
import type { StageEnv } from "./env.ts";
import { downstreamFields, upstreamH2Headers, upstreamHead } from "./forward-head.ts";
import { attemptFlag, RETRY_BODY_LIMIT, RetryState } from "./retry.ts";
import { type Answer, forwardedFlags, type RequestContext, type ResponseFlag } from "./stage.ts";

/** An attempt on an HTTP/1.1 socket or on an HTTP/2 stream: the stage reads both alike. */
type Exchange = RawExchange | H2Exchange;

interface Outcome {
  /** The response status; a gRPC server failure in a trailers-only answer counts as 503 (breaker, outliers). */
  status?: number;
  /** The gRPC status of a trailers-only answer. */
  grpc?: number | undefined;
  error?: AttemptError;
  endpoint?: string;
  exchange?: Exchange;
  noEndpoint?: true;
  /** The client left first: neither a success nor a failure of the upstream. */
  cancelled?: true;
  /** The response was final and already streams to the client. */
  streamed?: true;
}

const NO_ENDPOINT: Outcome = { noEndpoint: true };
const CANCELLED: Outcome = { cancelled: true };

function flagged(flag: ResponseFlag): Answer {
  return { flag, reply: undefined };
}

/** The whole request body, or undefined when the client left before sending all of it. */
function readWhole(req: EngineRequest): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.onAbort(() => resolve(undefined));
    req.readBody({
      data: (c) => {
        chunks.push(c);
        return true;
      },
      end: () => resolve(Buffer.concat(chunks)),
    });
  });
}

/** Where the stream listener reports: the data path's completion point. */
export type Completion = (ctx: RequestContext) => void;

/**
 * The terminal stage: attempts under the destination's limits and breaker,
 * each on an endpoint the balancer picks, with the route's timeout (from
 * the end of the request body, as Envoy's), per-try timeout and retries
 * (small bodies held for replay). The first response no retry could
 * replace streams to the client; failures come back as answers (UF, UR, UT,
 * UH, CB, UO) for the fallback stage.
 */
export function attempt(env: StageEnv, complete: Completion): (ctx: RequestContext) => Promise<Answer | undefined> {
  const clock = env.clock;

  const stream = (ctx: RequestContext, x: Exchange): void => {
    const head = x.head;
    const res = ctx.res;
    if (head === undefined) return;
    ctx.status = x.status;
    ctx.headAt = clock.now();
    if (x.status === 101) {
      const socket = x.socket;
      if (socket === undefined || x.rawHead === undefined) {
        res.destroy();
        return;
      }
      res.tunnel(x.rawHead, socket, (received, sent) => {
        ctx.tunnel = { received, sent };
        complete(ctx);
      });
      ctx.ending = "complete";
      complete(ctx);
      return;
    }
    const fields = downstreamFields(head.names, head.rawNames, head.values, head.connection);
    if (ctx.via !== undefined || ctx.fault !== undefined) fields.push("x-meshlet-flags", forwardedFlags(ctx));
    if (ctx.via !== undefined) fields.push("x-meshlet-fallback", "service");
    let length = -1;
    if (head.framing === "length") length = head.contentLength;
    else if (head.framing === "none") {
      const cl = head.names.indexOf("content-length");
      length = cl < 0 ? (ctx.req.method === "HEAD" || x.status === 304 ? -1 : 0) : Number(head.values[cl]);
    }
    res.writeHead(x.status, head.reason, fields, length);
    const action = ctx.policy?.fallback?.action;
    let tap: Tap | undefined;
    if (action?.kind === "stale-cache" && x.status >= 200 && x.status < 300) {
      const key = action.cache.keyFor(ctx.req.method, ctx.req.url, ctx.req.headers);
      if (key !== undefined) tap = action.cache.record(key, x.status, recordOf(head.names, head.values));
    }
    ctx.req.onAbort(() => x.abort("ECLIENT_GONE"));
    const grpc = head.names.indexOf("grpc-status");
    if (grpc >= 0) ctx.record.grpcStatus = head.values[grpc] as string;
    const sink = ctx.throttle > 0 ? new ThrottledSink(res, ctx.throttle, clock) : res;
    x.pipeTo(sink, tap, (how: StreamEnd) => {
      if (x.trailers !== "") ctx.record.grpcStatus = grpcStatusIn(x.trailers) ?? ctx.record.grpcStatus;
      ctx.ending = how === "complete" ? "complete" : how === "client-gone" ? "cancelled" : "upstream-reset";
      if (how === "upstream-reset") {
        const before = forwardedFlags(ctx);
        ctx.flags = before === "" ? "UR" : `${before},UR`;
      }
      complete(ctx);
    });
  };

  const tryOnce = (
    ctx: RequestContext,
    body: Buffer | BodySource | null,
    head: string | OutgoingHttpHeaders,
    retry: RetryState,
    timedOut: () => boolean,
    track: (x: Exchange | undefined) => void,
  ): Promise<Outcome> => {
    const dest = ctx.dest;
    if (dest === undefined) return Promise.resolve(NO_ENDPOINT);
    if (ctx.req.aborted) return Promise.resolve(CANCELLED);
    const hash = ctx.route?.hashKey?.(ctx.req);
    const usable = dest.usable;
    const failedOn = retry.failedOn;
    // A retry goes elsewhere when it can; back to a failed endpoint only when no other is usable.
    const endpoint =
      (failedOn === undefined
        ? undefined
        : dest.balancer.pick(hash, (k) => !failedOn.includes(k) && (usable === undefined || usable(k)))) ??
      dest.balancer.pick(hash, usable);
    if (endpoint === undefined) return Promise.resolve(NO_ENDPOINT);
    ctx.endpoint = endpoint;
    ctx.attempts++;
    return new Promise<Outcome>((resolve) => {
      endpoint.active++;
      let tryTimer: TimerHandle | undefined;
      const settle = (done: Exchange) => {
        if (tryTimer !== undefined) clock.clearTimeout(tryTimer);
        endpoint.active--;
        track(undefined);
        if (done.error !== undefined) {
          resolve({ error: done.error, endpoint: endpoint.key });
          return;
        }
        if (done.cancelled) {
          resolve({ cancelled: true, endpoint: endpoint.key });
          return;
        }
        const grpc = grpcCode(grpcStatusOf(done.head));
        const status = isGrpcServerFailure(grpc) ? 503 : done.status;
        if (!timedOut() && ctx.res.writable && !retry.wouldRetry(done.status, undefined, grpc)) {
          // Final: it streams from inside the head callback, never paused, nothing waits for the breaker.
          stream(ctx, done);
          resolve({ status, grpc, endpoint: endpoint.key, streamed: true });
        } else resolve({ status, grpc, endpoint: endpoint.key, exchange: done });
      };
      const x: Exchange =
        typeof head === "string"
          ? new RawExchange(
              env.upstreams.pool(endpoint),
              {
                head,
                headRequest: ctx.req.method === "HEAD",
                // An HTTP/1.1 upstream gets the held body or the request itself, never a copy (see `copy` below).
                body: body instanceof EngineRequest || Buffer.isBuffer(body) ? body : null,
                upgrade: ctx.req.upgrade !== undefined,
              },
              settle,
            )
          : new H2Exchange(env.upstreams.h2(endpoint), { headers: head, body }, settle);
      track(x);
      const perTry = retry.perTryTimeoutMs;
      if (perTry !== undefined) tryTimer = clock.setTimeout(() => x.abort("EATTEMPT_TIMEOUT"), perTry);
      x.start();
    });
  };

  return async (ctx) => {
    const route = ctx.route;
    const dest = ctx.dest;
    if (route === undefined || dest === undefined) return flagged("UH");
    const req = ctx.req;
    const retry = new RetryState(route.retry, req.method, env.random);
    // A retry must send the body again: a small one is read whole first (as Linkerd, up to 64 KiB); a larger or
    // chunked one streams, and is not retried.
    let held: Buffer | undefined;
    const framing = req.head.framing;
    if (framing === "length" && retry.methodRetriable && req.head.contentLength <= RETRY_BODY_LIMIT) {
      held = await readWhole(req);
      if (held === undefined) {
        ctx.ending = "cancelled";
        complete(ctx);
        return undefined;
      }
    }
    retry.retriable = retry.methodRetriable && (framing === "none" || held !== undefined);
    // HTTP/2 to the endpoints when the Service says so; inbound, to the app in the protocol the caller used
    // (a peer sidecar sends HTTP/2 only for a Service that declared it).
    const h2 = dest.h2 === true || (ctx.direction === "inbound" && req.h2);
    // An idempotent route's streamed body (a gRPC call's: no content-length) is copied on its way, up to 64 KiB,
    // so the call can go again after it was sent. Only to an HTTP/2 upstream, whose head does not depend on the
    // body's framing (an HTTP/1.1 head already said chunked).
    const copy =
      h2 && framing === "chunked" && route.retry?.idempotent === true ? new BodyCopy(req, RETRY_BODY_LIMIT) : undefined;
    if (copy !== undefined) retry.resendable = () => copiedWhole(copy, req.grpc) !== undefined;
    const head = h2
      ? upstreamH2Headers(req, ctx.record, env.telemetry)
      : upstreamHead(req, held, ctx.record, env.telemetry);
    let current: Exchange | undefined;
    let timedOut = false;
    let settled = false;
    let overall: TimerHandle | undefined;
    let deadline = Number.POSITIVE_INFINITY;
    const onTimeout = () => {
      timedOut = true;
      current?.abort("EATTEMPT_TIMEOUT");
    };
    // As Envoy's, the route timeout runs from the end of the request: an upload takes as long as it takes.
    // A delay fault already spent part of it.
    const timeoutMs = Math.max(1, route.timeoutMs - ctx.faultDelayMs);
    // A gRPC call's grpc-timeout runs from its arrival, as the client's own deadline does; the shorter wins.
    const grpcMs = req.grpc ? grpcTimeoutMs(req.headers["grpc-timeout"] as string | undefined) : undefined;
    if (grpcMs !== undefined) {
      deadline = ctx.startedAt + grpcMs;
      overall = clock.setTimeout(onTimeout, Math.max(0, deadline - clock.now()));
    }
    req.onComplete(() => {
      if (settled) return;
      const at = clock.now() + timeoutMs;
      if (at >= deadline) return;
      if (overall !== undefined) clock.clearTimeout(overall);
      deadline = at;
      overall = clock.setTimeout(onTimeout, timeoutMs);
    });
    req.onAbort(() => current?.abort("ECLIENT_GONE"));
    const policy = dest.policy;
    const budget = env.budget;
    try {
      for (;;) {
        const guarded = await guardAttempt(
          policy,
          () =>
            tryOnce(
              ctx,
              bodyFor(req, held, copy),
              head,
              retry,
              () => timedOut,
              (x) => {
                current = x;
              },
            ),
          env.resilience,
        );
        if (retry.inRetry) {
          retry.inRetry = false;
          budget.give(policy);
        }
        if (guarded.kind === "open") return { flag: "CB", reply: circuitOpenReply(dest.service) };
        if (guarded.kind === "overflow") return { flag: "UO", reply: overflowReply(dest.service, guarded.limit) };
        const out = guarded.outcome;
        if (out.streamed === true) return undefined;
        if (out.noEndpoint === true) return flagged("UH");
        if (out.cancelled === true || req.aborted) {
          out.exchange?.discard();
          ctx.ending = "cancelled";
          complete(ctx);
          return undefined;
        }
        const flag = attemptFlag(timedOut, out.error);
        // A gRPC call whose connection failed was never sent (its body not read yet): it may go again whatever
        // its method, as Envoy's reset-before-request; once sent, only a held or copied body on a route that resends.
        const unsent = req.grpc && out.error === "connect" && req.sink === undefined;
        const canRetry =
          !timedOut &&
          ctx.res.writable &&
          retry.wouldRetry(out.status, out.error, out.grpc, unsent) &&
          clock.now() < deadline;
        if (canRetry && budget.take(dest.service, policy, env.metrics)) {
          out.exchange?.discard();
          retry.failed(out.endpoint);
          retry.inRetry = true;
          await new Promise<void>((resolve) => clock.setTimeout(resolve, retry.backoffMs()));
          retry.attempt++;
          if (!ctx.res.writable) {
            ctx.ending = "cancelled";
            complete(ctx);
            return undefined;
          }
          if (timedOut) return flagged("UT");
          continue;
        }
        if (flag !== undefined || out.exchange === undefined) {
          out.exchange?.discard();
          return flagged(flag ?? "UR");
        }
        stream(ctx, out.exchange);
        return undefined;
      }
    } finally {
      settled = true;
      if (overall !== undefined) clock.clearTimeout(overall);
      if (retry.inRetry) budget.give(policy);
    }
  };
}

/** What an attempt sends: the held body, the copy once the first attempt read the request, or the request. */
function bodyFor(req: EngineRequest, held: Buffer | undefined, copy: BodyCopy | undefined): Buffer | BodySource | null {
  if (held !== undefined) return held;
  if (copy?.started === true) return copiedWhole(copy, req.grpc) ?? null;
  return req.head.framing !== "none" && req.sink === undefined ? (copy ?? req) : null;
}

/** A copied body that can go again: whole, and for a gRPC call one message (unary; a streaming call is not resent). */
function copiedWhole(copy: BodyCopy, grpc: boolean): Buffer | undefined {
  const whole = copy.whole;
  return whole !== undefined && (!grpc || isOneGrpcMessage(whole)) ? whole : undefined;
}

/** The response's fields as the stale cache records them (lower-cased names, repeated ones as lists). */
function recordOf(names: readonly string[], values: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < names.length; i++) {
    const n = names[i] as string;
    const prev = out[n];
    const v = values[i] as string;
    if (prev === undefined) out[n] = v;
    else out[n] = Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/** The grpc-status field of a response head (a trailers-only gRPC answer), undefined when absent. */
function grpcStatusOf(head: Head | undefined): string | undefined {
  if (head === undefined) return undefined;
  const i = head.names.indexOf("grpc-status");
  return i < 0 ? undefined : head.values[i];
}

/** The grpc-status field of a trailer section (lines ending in CRLF), trimmed; undefined when absent. */
export function grpcStatusIn(trailers: string): string | undefined {
  for (const line of trailers.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === "grpc-status") return line.slice(colon + 1).trim();
  }
  return undefined;
}

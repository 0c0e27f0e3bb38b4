import {
  type ClientHttp2Stream,
  constants,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type OutgoingHttpHeaders,
} from "node:http2";
import type { Socket } from "node:net";
import { type AttemptError, acquireErrorOf, type StreamEnd } from "../attempt-error.ts";
import type { BodySource } from "../body-copy.ts";
import type { ResponseSink, Tap } from "../exchange.ts";
import type { Head } from "../head.ts";
import { h2Head } from "./head.ts";
import type { H2EndpointPool, PooledSession, SessionAcquired } from "./pool.ts";

/** What goes upstream on a stream: the header block (pseudo-headers included) and the body. */
export interface H2OutgoingRequest {
  readonly headers: OutgoingHttpHeaders;
  /** A held body, the client's request or a copy on its way (streamed as it arrives), or null. */
  readonly body: Buffer | BodySource | null;
}

/**
 * One request on one stream of a pooled HTTP/2 session. As the HTTP/1.1 exchange: it settles once the
 * response head arrived (or the attempt failed); the body then waits, the stream paused (its window closes
 * the peer's sending), until the caller pipes it to the client or discards it. Trailers (gRPC's grpc-status)
 * are kept as the field lines the HTTP/1.1 side uses, and passed on.
 */
export class H2Exchange {
  status = 0;
  reason = "";
  head: Head | undefined;
  readonly rawHead: Buffer | undefined = undefined;
  readonly socket: Socket | undefined = undefined;
  error: AttemptError | undefined;
  cancelled = false;
  trailers = "";
  /** The head's grpc-status (a trailers-only answer), undefined when it had none. */
  grpcStatus: string | undefined;
  readonly #pool: H2EndpointPool;
  readonly #req: H2OutgoingRequest;
  readonly #settle: (x: H2Exchange) => void;
  #session: PooledSession | undefined;
  #stream: ClientHttp2Stream | undefined;
  #settled = false;
  #done = false;
  #sink: ResponseSink | null | undefined;
  #tap: Tap | undefined;
  #ended: ((how: StreamEnd) => void) | undefined;
  #responseEnded = false;
  #broken: Exclude<StreamEnd, "complete"> | undefined;
  readonly #acquired: SessionAcquired = (err, s) => this.#onSession(err, s);

  constructor(pool: H2EndpointPool, req: H2OutgoingRequest, settle: (x: H2Exchange) => void) {
    this.#pool = pool;
    this.#req = req;
    this.#settle = settle;
  }

  start(): void {
    this.#pool.acquire(this.#acquired);
  }

  #onSession(err: NodeJS.ErrnoException | undefined, s: PooledSession | undefined): void {
    if (this.#settled) {
      if (s !== undefined) this.#pool.release(s);
      return;
    }
    if (err !== undefined || s === undefined) {
      this.#fail(acquireErrorOf(err?.code ?? "ECONNREFUSED"));
      return;
    }
    this.#session = s;
    const body = this.#req.body;
    let stream: ClientHttp2Stream;
    try {
      stream = s.session.request(this.#req.headers, { endStream: body === null });
    } catch {
      this.#fail("reset");
      return;
    }
    this.#stream = stream;
    stream.on("error", () => {});
    stream.once("response", (h, flags) => this.#response(h, flags));
    stream.on("trailers", (t) => {
      this.trailers = trailerLines(t);
    });
    stream.once("close", () => this.#closed(stream));
    if (Buffer.isBuffer(body)) stream.end(body);
    else if (body !== null) this.#streamBody(body, stream);
  }

  #streamBody(req: BodySource, stream: ClientHttp2Stream): void {
    const drained = () => req.resume();
    req.readBody({
      data: (c) => {
        if (stream.destroyed) return true;
        const ok = stream.write(c);
        if (!ok) {
          req.pause();
          stream.once("drain", drained);
        }
        return ok;
      },
      end: () => {
        if (!stream.destroyed) stream.end();
      },
    });
  }

  #response(h: IncomingHttpHeaders & IncomingHttpStatusHeader, flags: number): void {
    const status = h[":status"] ?? 0;
    // Informational answers are hop-by-hop; HTTP/2 has no 101.
    if (status < 200) return;
    const endStream = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    this.status = status;
    this.head = h2Head(h, "", "", "", endStream, status);
    const g = h["grpc-status"];
    if (typeof g === "string") this.grpcStatus = g;
    this.#stream?.pause();
    this.#settled = true;
    this.#settle(this);
  }

  #closed(stream: ClientHttp2Stream): void {
    this.#release();
    if (this.#responseEnded) return;
    const code = stream.rstCode ?? constants.NGHTTP2_NO_ERROR;
    if (!this.#settled) {
      this.#fail(code === constants.NGHTTP2_REFUSED_STREAM ? "connect" : "reset");
      return;
    }
    // The stream closed after the head without its end: the upstream reset it (or the caller aborted).
    this.#break(this.#broken ?? "upstream-reset");
  }

  #release(): void {
    const s = this.#session;
    if (s === undefined) return;
    this.#session = undefined;
    this.#pool.release(s);
  }

  #fail(error: AttemptError): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#done = true;
    this.error = error;
    this.#settle(this);
  }

  #break(how: Exclude<StreamEnd, "complete">): void {
    if (this.#done) return;
    this.#done = true;
    this.#broken = how;
    this.#tap?.abort();
    if (this.#sink !== undefined && this.#sink !== null) this.#sink.destroy();
    this.#ended?.(how);
  }

  /** Ends the exchange wherever it is: a timeout or the client leaving. No-op once the response completed. */
  abort(code: "EATTEMPT_TIMEOUT" | "ECLIENT_GONE"): void {
    if (this.#responseEnded) return;
    const stream = this.#stream;
    if (!this.#settled) {
      if (stream === undefined) this.#pool.cancel(this.#acquired);
      if (code === "ECLIENT_GONE") {
        this.#settled = true;
        this.#done = true;
        this.cancelled = true;
        this.#settle(this);
      } else this.#fail("timeout");
    } else {
      this.#broken = code === "ECLIENT_GONE" ? "client-gone" : "upstream-reset";
    }
    if (stream !== undefined && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
  }

  /** Streams the (paused) body to `res`, copying into `tap`; `ended` hears how it ended. */
  pipeTo(res: ResponseSink, tap: Tap | undefined, ended: (how: StreamEnd) => void): void {
    if (this.#broken !== undefined || this.#done) {
      res.destroy();
      ended(this.#broken ?? "upstream-reset");
      return;
    }
    this.#sink = res;
    this.#tap = tap;
    this.#ended = ended;
    this.#flow();
  }

  /** Reads and drops the body (a retry follows). */
  discard(): void {
    this.#sink = null;
    const s = this.#stream;
    if (s !== undefined && !s.destroyed) s.close(constants.NGHTTP2_CANCEL);
  }

  #flow(): void {
    const stream = this.#stream;
    const sink = this.#sink;
    if (stream === undefined || sink === undefined || sink === null) return;
    const resume = () => stream.resume();
    stream.on("data", (c: Buffer) => {
      this.#tap?.write(c);
      if (!sink.write(c)) {
        stream.pause();
        sink.onDrain(resume);
      }
    });
    stream.once("end", () => {
      this.#responseEnded = true;
      this.#done = true;
      this.#tap?.end();
      sink.end(undefined, this.trailers);
      this.#ended?.("complete");
    });
    stream.resume();
  }
}

/** HTTP/2 trailer fields as CRLF-ended lines (the form the HTTP/1.1 side writes after its last chunk). */
function trailerLines(t: IncomingHttpHeaders): string {
  let out = "";
  for (const name of Object.keys(t)) {
    if (name.charCodeAt(0) === 58) continue;
    const v = t[name];
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) out += `${name}: ${one}\r\n`;
  }
  return out;
}

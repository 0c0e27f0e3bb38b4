import type { Socket } from "node:net";
import { type AttemptError, acquireErrorOf, attemptErrorOf, type StreamEnd } from "./attempt-error.ts";
import {
  type BodyDecoder,
  type BodySink,
  ChunkedDecoder,
  CloseDecoder,
  LAST_CHUNK,
  LengthDecoder,
  writeChunk,
} from "./body.ts";
import type { DownstreamResponse } from "./downstream.ts";
import { DEFAULT_HEAD_LIMITS, type Head, HttpError, headEnd, parseResponseHead } from "./head.ts";
import type { EndpointPool, PooledSocket, SocketOwner } from "./pool.ts";
import type { EngineRequest } from "./request.ts";

/** What goes upstream: the head as built by the caller, and the body held whole, streamed, or none. */
export interface OutgoingRequest {
  /** Request line and fields, ending with the empty line. */
  readonly head: string;
  readonly headRequest: boolean;
  /** A held body (sent with its Content-Length), the client's request (streamed as it arrives), or null. */
  readonly body: Buffer | EngineRequest | null;
  /** A WebSocket upgrade: a fresh socket, never pooled, and a 101 turns it into a tunnel. */
  readonly upgrade: boolean;
}

/** A copy of the body for the stale cache (resilience/stale-cache.ts Recording). */
/** Where a response body goes: the client's response, or a stage's wrapper of it (a throttled body). */
export type ResponseSink = Pick<DownstreamResponse, "write" | "onDrain" | "end" | "destroy">;

export interface Tap {
  write(chunk: Buffer): void;
  end(): void;
  abort(): void;
}

/**
 * One request to one endpoint on a raw pooled socket. The exchange settles
 * once the response head arrived (or the attempt failed); the body then
 * waits, the socket paused, until the caller pipes it to the client or
 * discards it (a retry). A reused socket that fails before any response
 * byte was probably closed by the upstream while idle: a request that can
 * be sent again is, once, on a new socket.
 */
export class RawExchange implements BodySink, SocketOwner {
  status = 0;
  reason = "";
  head: Head | undefined;
  /** The response head's bytes (the 101 of a WebSocket goes to the client as received). */
  rawHead: Buffer | undefined;
  error: AttemptError | undefined;
  cancelled = false;
  /** Response body bytes received. */
  bytesIn = 0;
  /** Request body bytes sent. */
  bytesOut = 0;
  readonly #pool: EndpointPool;
  readonly #req: OutgoingRequest;
  readonly #settle: (x: RawExchange) => void;
  #conn: PooledSocket | undefined;
  #buf: Buffer | undefined;
  #decoder: BodyDecoder | undefined;
  /** undefined until decided; null discards. */
  #sink: ResponseSink | null | undefined;
  #queued: Buffer[] = [];
  #tap: Tap | undefined;
  #ended: ((how: StreamEnd) => void) | undefined;
  #requestSent = false;
  #responseDone = false;
  /** The response's trailer lines (chunked bodies), passed on to the client; "" when none. */
  trailers = "";
  #finished = false;
  #broken: Exclude<StreamEnd, "complete"> | undefined;
  #bodyStarted = false;
  #retriedStale = false;
  readonly #acquired = (err: NodeJS.ErrnoException | undefined, s: PooledSocket | undefined) => this.#onSocket(err, s);
  #drainWaiting = false;
  readonly #drainUp = () => {
    this.#drainWaiting = false;
    (this.#req.body as EngineRequest).resume();
  };
  readonly #resumeUp = () => this.#conn?.socket.resume();

  constructor(pool: EndpointPool, req: OutgoingRequest, settle: (x: RawExchange) => void) {
    this.#pool = pool;
    this.#req = req;
    this.#settle = settle;
  }

  start(): void {
    this.#pool.acquire(this.#acquired, this.#req.upgrade);
  }

  get socket(): Socket | undefined {
    return this.#conn?.socket;
  }

  #onSocket(err: NodeJS.ErrnoException | undefined, s: PooledSocket | undefined): void {
    if (this.#finished) {
      if (s !== undefined) {
        s.requests--;
        this.#pool.release(s);
      }
      return;
    }
    if (err !== undefined || s === undefined) {
      this.#finish();
      this.error = acquireErrorOf(err?.code ?? "ECONNREFUSED");
      this.#settle(this);
      return;
    }
    this.#conn = s;
    s.owner = this;
    const socket = s.socket;
    const body = this.#req.body;
    if (body === null) {
      // The head alone: one write, nothing to cork.
      this.#requestSent = true;
      socket.write(this.#req.head, "latin1");
    } else if (Buffer.isBuffer(body)) {
      // A held body: head and body in one Buffer, one write.
      const head = this.#req.head;
      const out = Buffer.allocUnsafe(head.length + body.length);
      out.write(head, 0, "latin1");
      body.copy(out, head.length);
      this.bytesOut = body.length;
      this.#requestSent = true;
      socket.write(out);
    } else {
      // A streamed body: its first bytes (often already received) go out with the head.
      socket.cork();
      socket.write(this.#req.head, "latin1");
      this.#streamBody(body, socket);
      process.nextTick(uncork, socket);
    }
  }

  /** The client's body, forwarded as it arrives: the same framing (Content-Length as is, chunked re-framed). */
  #streamBody(req: EngineRequest, socket: Socket): void {
    this.#bodyStarted = true;
    const chunked = req.head.framing === "chunked";
    req.readBody({
      data: (chunk) => {
        if (this.#finished && this.#broken !== undefined) return true;
        this.bytesOut += chunk.length;
        const ok = chunked ? writeChunk(socket, chunk) : socket.write(chunk);
        if (!ok) {
          req.pause();
          this.#drainWaiting = true;
          socket.once("drain", this.#drainUp);
        }
        return ok;
      },
      end: () => {
        if (chunked && socket.writable) socket.write(LAST_CHUNK);
        this.#requestSent = true;
        if (this.#responseDone) this.#reuse();
      },
    });
  }

  /** SocketOwner: the pool's socket listeners hand its events here while this exchange owns it. */
  upstreamData(b: Buffer): void {
    this.#data(b);
  }

  upstreamEnd(): void {
    this.#socketEnded();
  }

  upstreamError(err: NodeJS.ErrnoException): void {
    this.#fail(err.code ?? "ECONNRESET");
  }

  upstreamClose(): void {
    this.#fail("ECONNRESET");
  }

  #data(b: Buffer): void {
    this.bytesIn += b.length;
    if (this.head === undefined) {
      this.#buf = this.#buf === undefined ? b : Buffer.concat([this.#buf, b]);
      const buf = this.#buf;
      const end = headEnd(buf, 0);
      if (end < 0) {
        if (buf.length > DEFAULT_HEAD_LIMITS.maxHeadBytes) this.#fail("EPROTO");
        return;
      }
      let head: Head;
      try {
        head = parseResponseHead(buf, 0, end, DEFAULT_HEAD_LIMITS, this.#req.headRequest);
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        this.#fail("EPROTO");
        return;
      }
      this.#buf = undefined;
      // Informational responses are hop-by-hop (the client's own 100 Continue is the engine's), except a 101.
      if (head.status < 200 && head.status !== 101) {
        if (end < buf.length) this.#data(buf.subarray(end));
        return;
      }
      this.head = head;
      this.status = head.status;
      this.reason = head.reason;
      this.rawHead = buf.subarray(0, end);
      if (head.status === 101) {
        this.#finished = true;
        this.#responseDone = true;
        this.#detach();
        // The socket becomes the WebSocket tunnel's: it leaves the pool, which still counts its close.
        this.#conn?.handOff();
        const rest = end < buf.length ? buf.subarray(end) : undefined;
        if (rest !== undefined) this.#conn?.socket.unshift(rest);
        this.#settle(this);
        return;
      }
      this.#decoder =
        head.framing === "chunked"
          ? new ChunkedDecoder()
          : head.framing === "length"
            ? new LengthDecoder(head.contentLength)
            : head.framing === "close"
              ? new CloseDecoder()
              : undefined;
      this.#settle(this);
      if (this.#sink === undefined) this.#conn?.socket.pause();
      if (this.#decoder === undefined) {
        if (end < buf.length) this.#spoiled = true;
        this.end();
        return;
      }
      if (end < buf.length) this.#body(buf.subarray(end));
      return;
    }
    this.#body(b);
  }

  #body(b: Buffer): void {
    const decoder = this.#decoder;
    if (decoder === undefined || this.#responseDone) {
      this.#fail("EPROTO");
      return;
    }
    if (this.#sink === undefined) {
      this.#queued.push(b);
      this.#conn?.socket.pause();
      return;
    }
    try {
      const r = decoder.push(b, 0, this);
      // Bytes after a complete response: the upstream broke framing; the socket is not reused.
      if (r.done && r.rest < b.length) this.#spoiled = true;
    } catch {
      this.#fail("EPROTO");
    }
  }

  #spoiled = false;

  /** BodySink: a piece of the response body. */
  data(chunk: Buffer): boolean {
    this.#tap?.write(chunk);
    const sink = this.#sink;
    if (sink === null || sink === undefined) return true;
    const ok = sink.write(chunk);
    if (!ok) {
      this.#conn?.socket.pause();
      sink.onDrain(this.#resumeUp);
    }
    return ok;
  }

  /** BodySink: the response body is complete. */
  end(): void {
    if (this.#responseDone) return;
    this.#responseDone = true;
    this.#tap?.end();
    this.#finish();
    if (this.#decoder instanceof ChunkedDecoder) this.trailers = this.#decoder.trailers;
    if (this.#sink !== undefined && this.#sink !== null) this.#sink.end(undefined, this.trailers);
    this.#ended?.("complete");
    if (this.#requestSent) this.#reuse();
    else {
      // The upstream answered before the request body ended: the socket is not reusable mid-request.
      this.#detach();
      this.#conn?.socket.destroy();
    }
  }

  #socketEnded(): void {
    if (this.#decoder instanceof CloseDecoder && this.head !== undefined && this.#sink !== undefined) {
      this.#decoder.finish(this);
      this.#conn?.socket.destroy();
      return;
    }
    if (this.#decoder instanceof CloseDecoder && this.head !== undefined) {
      this.#closeEnded = true;
      return;
    }
    this.#fail("ECONNRESET");
  }

  #closeEnded = false;

  #reuse(): void {
    const conn = this.#conn;
    if (conn === undefined) return;
    this.#detach();
    const head = this.head;
    if (this.#spoiled || head === undefined || head.close || head.minor === 0 || head.framing === "close") {
      conn.socket.destroy();
      return;
    }
    this.#pool.release(conn);
  }

  #detach(): void {
    const conn = this.#conn;
    if (conn === undefined || conn.owner !== this) return;
    conn.owner = undefined;
    if (this.#drainWaiting) {
      this.#drainWaiting = false;
      conn.socket.removeListener("drain", this.#drainUp);
    }
  }

  #finish(): void {
    this.#finished = true;
  }

  #fail(code: string): void {
    if (this.#responseDone) return;
    const conn = this.#conn;
    // A reused socket that died before any response byte: the upstream closed it while idle (a race no
    // client avoids); a request that can be sent again goes once more, on a new socket.
    if (
      conn?.reused === true &&
      this.bytesIn === 0 &&
      !this.#retriedStale &&
      !this.#finished &&
      !this.#bodyStarted &&
      !this.#req.upgrade
    ) {
      this.#retriedStale = true;
      this.#detach();
      conn.socket.destroy();
      this.#conn = undefined;
      this.#pool.acquire(this.#acquired, true);
      return;
    }
    this.#detach();
    conn?.socket.destroy();
    if (this.head === undefined) {
      if (this.#finished) return;
      this.#finish();
      if (code === "ECLIENT_GONE") this.cancelled = true;
      else this.error = attemptErrorOf(code);
      this.#settle(this);
      return;
    }
    if (this.#broken !== undefined) return;
    this.#finish();
    this.#broken = code === "ECLIENT_GONE" ? "client-gone" : "upstream-reset";
    this.#tap?.abort();
    if (this.#sink !== undefined && this.#sink !== null) this.#sink.destroy();
    this.#ended?.(this.#broken);
  }

  /** Ends the exchange wherever it is: "timeout" or the client leaving. No-op once the response completed. */
  abort(code: "EATTEMPT_TIMEOUT" | "ECLIENT_GONE"): void {
    if (this.#responseDone) return;
    if (this.#conn === undefined && !this.#finished) {
      this.#pool.cancel(this.#acquired);
      this.#finish();
      if (code === "ECLIENT_GONE") this.cancelled = true;
      else this.error = "timeout";
      this.#settle(this);
      return;
    }
    this.#retriedStale = true;
    this.#fail(code);
  }

  /** Streams the (paused) body to `res`, copying into `tap`; `ended` hears how it ended. */
  pipeTo(res: ResponseSink, tap: Tap | undefined, ended: (how: StreamEnd) => void): void {
    if (this.#broken !== undefined) {
      res.destroy();
      ended(this.#broken);
      return;
    }
    this.#sink = res;
    this.#tap = tap;
    this.#ended = ended;
    this.#flush();
  }

  /** Reads and drops the body, so the socket can be reused. */
  discard(): void {
    this.#sink = null;
    this.#flush();
  }

  #flush(): void {
    if (this.#responseDone) {
      if (this.#sink !== null && this.#sink !== undefined) this.#sink.end(undefined, this.trailers);
      this.#ended?.("complete");
      return;
    }
    const queued = this.#queued;
    this.#queued = [];
    for (const b of queued) this.#body(b);
    if (this.#closeEnded && this.#decoder instanceof CloseDecoder) {
      this.#decoder.finish(this);
      this.#conn?.socket.destroy();
      return;
    }
    this.#conn?.socket.resume();
  }
}

function uncork(s: Socket): void {
  s.uncork();
}

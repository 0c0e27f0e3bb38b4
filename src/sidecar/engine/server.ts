import { STATUS_CODES } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { type BodyDecoder, ChunkedDecoder, type ChunkLimits, DEFAULT_CHUNK_LIMITS, LengthDecoder } from "./body.ts";
import type { DownstreamResponse } from "./downstream.ts";
import { H2Front, sniffPreface } from "./h2/server.ts";
import { DEFAULT_HEAD_LIMITS, type HeadLimits, HttpError, headEnd, listOf, parseRequestHead, single } from "./head.ts";
import { DEFAULT_PATH_OPTIONS, type PathOptions } from "./path.ts";
import { EngineRequest, type RequestChannel } from "./request.ts";
import { EngineResponse } from "./response.ts";
import { parseTarget } from "./target.ts";

export interface EngineOptions {
  readonly head: HeadLimits;
  readonly chunk: ChunkLimits;
  readonly path: PathOptions;
  /** A request head must arrive whole within this (slowloris): else 408 and close. */
  readonly headersTimeoutMs: number;
  /** An idle keep-alive connection (no request in flight) is closed, gracefully, after this (0: never). */
  readonly keepAliveTimeoutMs: number;
  /** No byte either way for this long mid-request closes the connection (0: never). */
  readonly streamIdleTimeoutMs: number;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  head: DEFAULT_HEAD_LIMITS,
  chunk: DEFAULT_CHUNK_LIMITS,
  path: DEFAULT_PATH_OPTIONS,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 3_600_000,
  streamIdleTimeoutMs: 300_000,
};

/** The engine's one callback: a request whose head parsed and passed every check. */
export type EngineHandler = (req: EngineRequest, res: DownstreamResponse) => void;

/**
 * The listener transport: what happens between accepting a socket and
 * parsing HTTP on it (e.g. a TLS handshake, sniffing plain text from TLS).
 * It calls `serve` with the stream to speak HTTP on and the peer's verified
 * identity, if any; or destroys the socket.
 */
export type Acceptor = (socket: Socket, serve: (stream: Socket, peerIdentity?: string) => void) => void;

/** A request the engine refused before any handler saw it. */
export type RefusalListener = (err: HttpError) => void;

/** Waiting for a request head. */
const HEAD = 0;
/** Reading the current request's body. */
const BODY = 1;
/** The request is read; its response is in flight. Pipelined bytes wait, the socket paused. */
const WAIT = 2;
/** Handed to a byte tunnel (WebSocket). */
const TUNNEL = 3;
const CLOSED = 4;
/** Handed to the HTTP/2 front (h2/server.ts): the connection began with the HTTP/2 preface. */
const H2 = 5;

/**
 * One client connection: heads parsed as bytes arrive, bodies handed on as
 * they arrive, requests served one at a time in order (pipelined requests
 * wait in the buffer, the socket paused, until the response before them ended).
 */
export class Connection implements RequestChannel {
  readonly socket: Socket;
  readonly #o: EngineOptions;
  readonly #server: EngineServer;
  #state = HEAD;
  /** Bytes received and not consumed yet. */
  #pending: Buffer | undefined;
  #scanned = 0;
  #req: EngineRequest | undefined;
  #res: EngineResponse | undefined;
  #decoder: BodyDecoder | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** No request yet: the first bytes may be the HTTP/2 preface. */
  #fresh = true;
  tunnelPeer: Socket | undefined;
  /** The SPIFFE ID of the peer's verified client certificate (mTLS), undefined on plain text. */
  readonly peerIdentity: string | undefined;

  constructor(socket: Socket, server: EngineServer, o: EngineOptions, peerIdentity?: string) {
    this.socket = socket;
    this.peerIdentity = peerIdentity;
    this.#server = server;
    this.#o = o;
    socket.setNoDelay(true);
    socket.on("data", (b: Buffer) => this.#onData(b));
    socket.on("end", () => this.#onEnd());
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.#onClose());
    if (o.streamIdleTimeoutMs > 0) {
      socket.setTimeout(o.streamIdleTimeoutMs);
      // Mid-request only: a connection waiting for its next request is the keep-alive timer's.
      socket.on("timeout", () => {
        if (this.#state !== TUNNEL && !this.idle) socket.destroy();
      });
    }
    this.#arm(o.headersTimeoutMs);
  }

  get idle(): boolean {
    return this.#state === HEAD && this.#pending === undefined;
  }

  get busy(): boolean {
    return this.#state === BODY || this.#state === WAIT;
  }

  #arm(ms: number): void {
    if (ms === 0) {
      this.#disarm();
      this.#timerMs = 0;
      return;
    }
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#onTimer(), ms);
      this.#timer.unref();
    } else {
      this.#timer.refresh();
    }
    this.#timerMs = ms;
  }

  #timerMs = 0;

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #onTimer(): void {
    this.#timer = undefined;
    if (this.#state !== HEAD) return;
    if (this.#pending === undefined) {
      // Idle: a FIN, not a reset, and the socket stays readable, so a request already on its way is read and
      // dropped rather than answered with an RST (the client sees a clean close and retries elsewhere).
      this.closeIfIdle();
      return;
    }
    if (this.#timerMs === this.#o.keepAliveTimeoutMs) {
      this.socket.destroy();
      return;
    }
    this.#refuse(new HttpError(408, "ERR_HEADERS_TIMEOUT", "request head not received in time"));
  }

  #onData(b: Buffer): void {
    const state = this.#state;
    if (state === HEAD) {
      if (this.#pending === undefined) {
        this.#pending = b;
        this.#scanned = 0;
        // The head timeout runs from the first byte of a request (the keep-alive timeout before it).
        if (this.#timerMs !== this.#o.headersTimeoutMs) {
          this.#disarm();
          this.#arm(this.#o.headersTimeoutMs);
        }
      } else {
        this.#pending = Buffer.concat([this.#pending, b]);
      }
      this.#parseHead();
      return;
    }
    if (state === BODY && this.#req?.sink !== undefined && this.#pending === undefined) {
      this.#feed(b, 0);
      return;
    }
    if (state === BODY || state === WAIT) {
      this.#pending = this.#pending === undefined ? b : Buffer.concat([this.#pending, b]);
      this.socket.pause();
    }
  }

  #parseHead(): void {
    const buf = this.#pending;
    if (buf === undefined) return;
    if (this.#fresh) {
      const sniffed = sniffPreface(buf);
      if (sniffed === "more") return;
      if (sniffed === "h2") {
        this.#toH2(buf);
        return;
      }
      this.#fresh = false;
    }
    const limits = this.#o.head;
    const end = headEnd(buf, Math.max(0, this.#scanned - 3));
    if (end < 0) {
      this.#scanned = buf.length;
      if (buf.length > limits.maxHeadBytes) {
        this.#refuse(new HttpError(431, "ERR_HEAD_TOO_LARGE", "request head too large"));
      } else if (buf.length > limits.maxStartLine && buf.indexOf(10) < 0) {
        this.#refuse(new HttpError(414, "ERR_URI_TOO_LONG", "request line too long"));
      }
      return;
    }
    if (end > limits.maxHeadBytes) {
      this.#refuse(new HttpError(431, "ERR_HEAD_TOO_LARGE", "request head too large"));
      return;
    }
    let req: EngineRequest;
    try {
      const head = parseRequestHead(buf, 0, end, limits);
      if (head.method === "CONNECT") throw new HttpError(405, "ERR_CONNECT", "CONNECT is not served");
      const target = parseTarget(head, this.#o.path);
      const upgrade =
        head.method === "GET" &&
        head.minor === 1 &&
        head.connection.includes("upgrade") &&
        listOf(head.names, head.values, "upgrade")[0] === "websocket"
          ? "websocket"
          : undefined;
      if (upgrade !== undefined && head.framing !== "none")
        throw new HttpError(400, "ERR_UPGRADE_BODY", "an upgrade request with a body");
      if (target.absolute && single(head.names, head.values, "host") === undefined && head.minor === 1)
        throw new HttpError(400, "ERR_HOST", "Host field missing");
      req = new EngineRequest(
        head,
        { path: target.path, query: target.query, authority: target.authority, upgrade },
        this.socket.remoteAddress,
        this,
        this.peerIdentity,
      );
      if (target.absolute) req.headers.host = target.authority;
    } catch (err) {
      if (err instanceof HttpError) {
        this.#server.refused(err);
        this.#refuse(err);
        return;
      }
      throw err;
    }
    this.#disarm();
    this.#pending = end < buf.length ? buf.subarray(end) : undefined;
    this.#scanned = 0;
    const framing = req.head.framing;
    this.#decoder =
      framing === "chunked"
        ? new ChunkedDecoder(this.#o.chunk)
        : framing === "length"
          ? new LengthDecoder(req.head.contentLength)
          : undefined;
    this.#state = framing === "none" ? WAIT : BODY;
    if (this.#pending !== undefined || this.#state === BODY) this.socket.pause();
    this.#req = req;
    const res = new EngineResponse(this, req);
    this.#res = res;
    this.#server.handler(req, res);
  }

  startBody(req: EngineRequest): void {
    if (req !== this.#req) return;
    const sink = req.sink;
    if (sink === undefined) return;
    if (this.#state !== BODY) {
      if (req.head.framing === "none") sink.end();
      return;
    }
    if (req.expectContinue && this.#res?.headersSent === false) this.socket.write("HTTP/1.1 100 Continue\r\n\r\n");
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending !== undefined) this.#feed(pending, 0);
    if (this.#state === BODY) this.socket.resume();
  }

  pauseBody(): void {
    if (this.#state === BODY) this.socket.pause();
  }

  resumeBody(): void {
    if (this.#state === BODY && this.#pending === undefined) this.socket.resume();
  }

  #feed(buf: Buffer, from: number): void {
    const req = this.#req as EngineRequest;
    const sink = req.sink;
    const decoder = this.#decoder;
    if (sink === undefined || decoder === undefined) return;
    let r: ReturnType<BodyDecoder["push"]>;
    try {
      r = decoder.push(buf, from, sink);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      this.#server.refused(err);
      // The request cannot be completed: the upstream hears an abort, the client a 400 if nothing was sent yet.
      req.abort();
      if (this.#res?.headersSent === false) this.#refuse(err);
      else this.socket.destroy();
      return;
    }
    req.bodyBytes += r.rest - from;
    if (r.done) {
      this.#state = WAIT;
      if (r.rest < buf.length) {
        this.#pending = buf.subarray(r.rest);
        this.socket.pause();
      }
      req.markComplete();
      if (this.#res?.finished === true) this.responseDone();
      return;
    }
    if (!r.more) this.socket.pause();
  }

  /** Answers a request the engine refuses, then closes: the rest of the stream cannot be trusted. */
  #refuse(err: HttpError): void {
    this.#disarm();
    this.#state = CLOSED;
    this.#pending = undefined;
    const reason = STATUS_CODES[err.status] ?? "Error";
    const body = `${JSON.stringify({ error: err.message, code: err.code })}\n`;
    if (this.socket.writable) {
      this.socket.end(
        `HTTP/1.1 ${err.status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
    // A client that never reads its answer does not hold the socket.
    setTimeout(() => this.socket.destroy(), 1_000).unref();
  }

  /** The response ended: the next pipelined request may start, or the connection closes. */
  responseDone(): void {
    const req = this.#req;
    const res = this.#res;
    if (req === undefined || res === undefined || this.#state === CLOSED || this.#state === TUNNEL) return;
    // Whatever the client still sends for a body nobody reads is not drained: the connection closes.
    if (res.closing || !req.complete || this.#server.draining) {
      if (!req.complete) req.abort();
      this.#state = CLOSED;
      this.socket.end();
      return;
    }
    if (this.#state !== WAIT) return;
    this.#req = undefined;
    this.#res = undefined;
    this.#decoder = undefined;
    this.#state = HEAD;
    this.#scanned = 0;
    if (this.#pending !== undefined) {
      this.#arm(this.#o.headersTimeoutMs);
      // The next pipelined request is parsed on the next tick: a run of local answers never deepens the stack.
      process.nextTick(() => {
        if (this.#state !== HEAD) return;
        this.#parseHead();
        if (this.#state === HEAD) this.socket.resume();
      });
      return;
    }
    this.#arm(this.#o.keepAliveTimeoutMs);
    this.socket.resume();
  }

  /** h2c with prior knowledge: the socket and the bytes read so far go to the HTTP/2 front. */
  #toH2(pending: Buffer): void {
    this.#state = H2;
    this.#disarm();
    this.#pending = undefined;
    const s = this.socket;
    s.pause();
    s.setTimeout(0);
    s.removeAllListeners("data");
    s.removeAllListeners("end");
    s.removeAllListeners("timeout");
    this.#server.h2.accept(s, pending, this.peerIdentity);
  }

  /** The connection becomes a byte tunnel to `peer` (a WebSocket after its 101). */
  tunnel(peer: Socket, closed?: (received: number, sent: number) => void): void {
    this.#state = TUNNEL;
    this.#disarm();
    this.tunnelPeer = peer;
    const s = this.socket;
    s.setTimeout(0);
    s.removeAllListeners("data");
    s.removeAllListeners("end");
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending !== undefined) peer.write(pending);
    s.pipe(peer);
    peer.pipe(s);
    peer.on("error", () => {
      peer.destroy();
      s.destroy();
    });
    peer.on("close", () => s.destroy());
    s.on("close", () => {
      peer.destroy();
      closed?.(s.bytesRead, s.bytesWritten);
    });
    s.resume();
  }

  /** Drain: an idle keep-alive connection closes now. */
  closeIfIdle(): void {
    if (this.idle) {
      this.#state = CLOSED;
      this.socket.end();
    }
  }

  #onEnd(): void {
    if (this.#state === HEAD) {
      this.#state = CLOSED;
      this.socket.end();
      return;
    }
    // A client that ends its side while its request is in flight has left (as nginx sees it, 499): the
    // upstream request is aborted rather than finished for nobody.
    if (this.#state === BODY || this.#state === WAIT) {
      this.#req?.abort();
      this.socket.destroy();
    }
  }

  #onClose(): void {
    this.#disarm();
    const req = this.#req;
    if (req !== undefined && this.#res?.finished !== true) req.abort();
    this.#state = CLOSED;
    this.tunnelPeer?.destroy();
    this.#server.forget(this);
  }
}

/** The HTTP/1.1 server on node:net: connections, drain, and the one handler requests go to. */
export class EngineServer {
  readonly server: Server;
  readonly handler: EngineHandler;
  readonly #conns = new Set<Connection>();
  readonly #onRefused: RefusalListener | undefined;
  /** Where connections that open with the HTTP/2 preface go. */
  readonly h2: H2Front;
  draining = false;

  /** The listener transport; replaced by setAcceptor when the security mode changes (new connections only). */
  #accept: Acceptor | undefined;

  constructor(o: EngineOptions, handler: EngineHandler, onRefused?: RefusalListener, accept?: Acceptor) {
    this.handler = handler;
    this.#onRefused = onRefused;
    this.h2 = new H2Front(
      {
        path: o.path,
        idleTimeoutMs: o.streamIdleTimeoutMs > 0 ? o.streamIdleTimeoutMs : 300_000,
        maxHeaderListSize: o.head.maxHeadBytes,
        maxHeaderListPairs: o.head.maxFields + 8,
      },
      handler,
      (err) => this.refused(err),
    );
    this.#accept = accept;
    const serve = (stream: Socket, peerIdentity?: string) => {
      if (this.draining) stream.destroy();
      else this.#conns.add(new Connection(stream, this, o, peerIdentity));
    };
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      if (this.draining) {
        socket.destroy();
        return;
      }
      if (this.#accept === undefined) serve(socket);
      else this.#accept(socket, serve);
    });
  }

  setAcceptor(accept: Acceptor | undefined): void {
    this.#accept = accept;
  }

  refused(err: HttpError): void {
    this.#onRefused?.(err);
  }

  forget(c: Connection): void {
    this.#conns.delete(c);
  }

  get connections(): number {
    return this.#conns.size;
  }

  /** Stops accepting; the promise settles once every connection is gone. */
  close(): Promise<void> {
    this.draining = true;
    this.h2.close();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  closeIdle(): void {
    for (const c of this.#conns) c.closeIfIdle();
  }

  /** The drain deadline: every connection ends now, whatever it is doing (tunnels included). */
  destroyAll(): void {
    this.h2.destroyAll();
    for (const c of this.#conns) {
      c.tunnelPeer?.destroy();
      c.socket.destroy();
    }
  }
}

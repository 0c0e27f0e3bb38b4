import {
  constants,
  createServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import type { Socket } from "node:net";
import { HttpError } from "../head.ts";
import type { PathOptions } from "../path.ts";
import { EngineRequest, type RequestChannel } from "../request.ts";
import { parseTarget } from "../target.ts";
import { h2Head } from "./head.ts";
import { H2Response } from "./response.ts";

/** The HTTP/2 client connection preface (RFC 9113 §3.4): what an h2c client with prior knowledge sends first. */
export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** What the first bytes of a connection say: HTTP/2 (the whole preface), not yet known, or HTTP/1.x. */
export function sniffPreface(buf: Buffer): "h2" | "more" | "h1" {
  const n = Math.min(buf.length, PREFACE.length);
  if (buf.compare(PREFACE, 0, n, 0, n) !== 0) return "h1";
  return n === PREFACE.length ? "h2" : "more";
}

export interface H2Options {
  readonly path: PathOptions;
  /** A session with no frame either way for this long is closed (GOAWAY). */
  readonly idleTimeoutMs: number;
  /** Header list bytes (HPACK-decoded) a request may carry: the HTTP/1.1 head limit. */
  readonly maxHeaderListSize: number;
  /** Fields a request may carry, pseudo-headers included. */
  readonly maxHeaderListPairs: number;
}

type Handler = (req: EngineRequest, res: H2Response) => void;

/** A session's stream window and the connection's: 1 MiB each, so a 2 MiB message is not held to 64 KiB a round trip. */
export const H2_WINDOW = 1 << 20;

/**
 * HTTP/2 cleartext on the engine's listeners: a connection whose first bytes are the preface is handed, with
 * those bytes, to a Node http2 server that listens on nothing (its 'connection' event is the only way in).
 * Every stream becomes one EngineRequest with its own H2Response, through the same handler as an HTTP/1.1
 * request: the stage chain routes, balances and answers each stream on its own.
 */
export class H2Front {
  readonly #server: Http2Server;
  readonly #o: H2Options;
  readonly #handler: Handler;
  readonly #refused: (err: HttpError) => void;
  readonly #sessions = new Set<ServerHttp2Session>();
  /** The verified SPIFFE ID of each mTLS session's peer: its streams carry it, as HTTP/1.1 requests do. */
  readonly #identities = new WeakMap<Http2Session, string>();
  /** Set only while `accept` hands a socket over: the http2 server makes its session synchronously. */
  #accepting: string | undefined;

  constructor(o: H2Options, handler: Handler, refused: (err: HttpError) => void) {
    this.#o = o;
    this.#handler = handler;
    this.#refused = refused;
    this.#server = createServer({
      maxHeaderListPairs: o.maxHeaderListPairs,
      maxSessionMemory: 16,
      settings: {
        enablePush: false,
        maxConcurrentStreams: 1_000,
        maxHeaderListSize: o.maxHeaderListSize,
        initialWindowSize: H2_WINDOW,
      },
    });
    this.#server.on("session", (s) => this.#session(s));
    this.#server.on("stream", (stream, headers, flags) => this.#stream(stream, headers, flags));
    // A broken session or stream ends itself; nothing of it reaches the process.
    this.#server.on("sessionError", () => {});
    this.#server.on("error", () => {});
  }

  get sessions(): number {
    return this.#sessions.size;
  }

  /** Takes over a connection whose first bytes (`pending`, the preface and whatever followed) were read. */
  accept(socket: Socket, pending: Buffer, peerIdentity?: string): void {
    // The listener keeps HTTP/1.1 sockets half-open (a client may end its side and still read); an HTTP/2
    // session has no half-open state, and would sit in CLOSE-WAIT after the client's FIN without this.
    socket.allowHalfOpen = false;
    // Inside an mTLS tunnel from a peer sidecar the preface itself says HTTP/2 (prior knowledge; no ALPN is
    // negotiated). Node's HTTP/2 server reads a TLS socket whose ALPN is false as "not h2" and destroys it,
    // which reset every gRPC call to a STRICT peer (UR); the preface already decided, so tell the server so.
    if ("alpnProtocol" in socket && socket.alpnProtocol === false) socket.alpnProtocol = "h2";
    socket.unshift(pending);
    this.#accepting = peerIdentity;
    try {
      this.#server.emit("connection", socket);
    } finally {
      this.#accepting = undefined;
    }
  }

  #session(s: ServerHttp2Session): void {
    this.#sessions.add(s);
    if (this.#accepting !== undefined) this.#identities.set(s, this.#accepting);
    s.on("error", () => s.destroy());
    s.on("close", () => this.#sessions.delete(s));
    if (s.destroyed) return;
    s.setLocalWindowSize(H2_WINDOW);
    s.setTimeout(this.#o.idleTimeoutMs, () => s.close());
  }

  #stream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
    stream.on("error", () => {});
    const method = headers[":method"] ?? "";
    const target = headers[":path"] ?? "";
    const authority = headers[":authority"] ?? (typeof headers.host === "string" ? headers.host : "");
    const endStream = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    let req: EngineRequest;
    try {
      if (method === "CONNECT") throw new HttpError(405, "ERR_CONNECT", "CONNECT is not served");
      if (target === "" || method === "") throw new HttpError(400, "ERR_TARGET", "missing :method or :path");
      if (authority === "") throw new HttpError(400, "ERR_HOST", ":authority missing");
      const cl = headers["content-length"];
      if (cl !== undefined && !/^\d{1,15}$/.test(cl)) throw new HttpError(400, "ERR_LENGTH", "invalid content-length");
      const head = h2Head(headers, method, target, authority, endStream);
      const t = parseTarget(head, this.#o.path);
      const ct = headers["content-type"];
      req = new EngineRequest(
        head,
        {
          path: t.path,
          query: t.query,
          authority: t.authority,
          upgrade: undefined,
          h2: true,
          grpc: ct?.startsWith("application/grpc") === true,
        },
        stream.session?.socket?.remoteAddress,
        new StreamChannel(stream),
        stream.session === undefined ? undefined : this.#identities.get(stream.session),
      );
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      this.#refused(err);
      refuse(stream, err);
      return;
    }
    const res = new H2Response(stream, req);
    stream.on("close", () => {
      if (!res.finished || !req.complete) req.abort();
    });
    this.#handler(req, res);
  }

  /** Drain: every session says GOAWAY; streams in flight finish. */
  close(): void {
    for (const s of this.#sessions) s.close();
  }

  destroyAll(): void {
    for (const s of this.#sessions) s.destroy();
  }
}

function refuse(stream: ServerHttp2Stream, err: HttpError): void {
  if (stream.destroyed || stream.headersSent) return;
  const body = `${JSON.stringify({ error: err.message, code: err.code })}\n`;
  stream.respond({ ":status": err.status, "content-type": "application/json", "content-length": body.length });
  stream.end(body);
}

/** A stream's request body delivered to its sink, held to a declared content-length. */
class StreamChannel implements RequestChannel {
  readonly #stream: ServerHttp2Stream;
  #started = false;

  constructor(stream: ServerHttp2Stream) {
    this.#stream = stream;
  }

  startBody(req: EngineRequest): void {
    const sink = req.sink;
    if (sink === undefined || this.#started) return;
    this.#started = true;
    if (req.head.framing === "none") {
      sink.end();
      return;
    }
    const s = this.#stream;
    const declared = req.head.framing === "length" ? req.head.contentLength : -1;
    s.on("data", (c: Buffer) => {
      req.bodyBytes += c.length;
      if (declared >= 0 && req.bodyBytes > declared) {
        s.close(constants.NGHTTP2_PROTOCOL_ERROR);
        return;
      }
      if (!sink.data(c)) s.pause();
    });
    s.on("end", () => {
      if (declared >= 0 && req.bodyBytes !== declared) {
        s.close(constants.NGHTTP2_PROTOCOL_ERROR);
        return;
      }
      req.markComplete();
      sink.end();
    });
  }

  pauseBody(): void {
    this.#stream.pause();
  }

  resumeBody(): void {
    this.#stream.resume();
  }
}

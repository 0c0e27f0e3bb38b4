import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { LAST_CHUNK, writeChunk } from "./body.ts";
import type { DownstreamResponse } from "./downstream.ts";
import type { EngineRequest } from "./request.ts";

/** What a response needs of its connection (server.ts's Connection): its socket, and the two ways a response ends. */
export interface ResponseChannel {
  readonly socket: Socket;
  responseDone(): void;
  tunnel(peer: Socket, closed?: (received: number, sent: number) => void): void;
}

/** Fields the engine writes itself from the response's framing: a caller's copies are dropped. */
const FRAMING = new Set(["content-length", "transfer-encoding", "connection"]);

/** By length first: the other names are not lower-cased (a string each) only to be compared. */
function isFraming(name: string): boolean {
  const n = name.length;
  return (n === 10 || n === 14 || n === 17) && FRAMING.has(name.toLowerCase());
}

/**
 * The response to one request. The caller gives status, fields and the
 * body's length when known; the engine decides the framing (Content-Length,
 * chunked for HTTP/1.1, close-delimited for HTTP/1.0), leaves the body out
 * where HTTP has none (HEAD, 1xx, 204, 304) and says `connection: close`
 * when the connection ends after it.
 */
export class EngineResponse implements DownstreamResponse {
  readonly #conn: ResponseChannel;
  readonly #req: EngineRequest;
  headersSent = false;
  finished = false;
  status = 0;
  /** Body bytes written. */
  bytes = 0;
  /** The connection closes after this response. */
  closing = false;
  #chunked = false;
  #bodiless = false;
  /** The head, written with the first body bytes (one write), or by the end of this tick at the latest. */
  #head: string | undefined;
  /** The socket is corked for a chunked body: uncorked at the end of the response or of this tick. */
  #corked = false;

  constructor(conn: ResponseChannel, req: EngineRequest) {
    this.#conn = conn;
    this.#req = req;
  }

  get socket(): Socket {
    return this.#conn.socket;
  }

  get writable(): boolean {
    return !this.finished && this.#conn.socket.writable && !this.#req.aborted;
  }

  /** Asks for the connection to close after this response (before the head is written: it says so). */
  closeAfter(): void {
    this.closing = true;
  }

  /**
   * Writes the head. `fields` is [name, value, ...] with hop-by-hop fields
   * already removed; `length` is the body's length, -1 when unknown.
   */
  writeHead(status: number, reason: string | undefined, fields: readonly string[], length: number): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.status = status;
    const req = this.#req;
    const noBody = status < 200 || status === 204 || status === 304;
    this.#bodiless = noBody || req.method === "HEAD";
    if (req.head.close || req.upgrade !== undefined) this.closing = true;
    let head = `HTTP/1.1 ${status} ${reason === undefined || reason === "" ? (STATUS_CODES[status] ?? "") : reason}\r\n`;
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i] as string;
      if (isFraming(name)) continue;
      head += `${name}: ${fields[i + 1]}\r\n`;
    }
    if (status === 204 || status < 200) {
      // No framing field at all.
    } else if (length >= 0) {
      head += `content-length: ${length}\r\n`;
    } else if (!this.#bodiless) {
      if (req.head.minor === 1) {
        head += "transfer-encoding: chunked\r\n";
        this.#chunked = true;
      } else {
        this.closing = true;
      }
    }
    if (this.closing) head += "connection: close\r\n";
    else if (req.head.minor === 0) head += "connection: keep-alive\r\n";
    this.#head = `${head}\r\n`;
    holdUntilTickEnd(this);
  }

  /** The end of the tick: whatever is still held goes out (a streamed body's first bytes may come later). */
  flushHeld(): void {
    const s = this.#conn.socket;
    const head = this.#head;
    if (head !== undefined) {
      this.#head = undefined;
      s.write(head, "latin1");
    }
    if (this.#corked) {
      this.#corked = false;
      s.uncork();
    }
  }

  /** A piece of the body; false: wait for `onDrain`. */
  write(chunk: Buffer): boolean {
    if (this.#bodiless || this.finished || chunk.length === 0) return true;
    this.bytes += chunk.length;
    const s = this.#conn.socket;
    if (!s.writable) return true;
    const head = this.#head;
    if (head === undefined) return this.#chunked ? writeChunk(s, chunk) : s.write(chunk);
    this.#head = undefined;
    if (this.#chunked) {
      // Size line, data and CRLF after the head: corked, so they leave in one writev.
      s.cork();
      this.#corked = true;
      s.write(head, "latin1");
      return writeChunk(s, chunk);
    }
    // Head and body in one Buffer: one write, no writev of a string and a Buffer.
    const out = Buffer.allocUnsafe(head.length + chunk.length);
    out.write(head, 0, "latin1");
    chunk.copy(out, head.length);
    return s.write(out);
  }

  onDrain(fn: () => void): void {
    this.#conn.socket.once("drain", fn);
  }

  /** `trailers`: field lines (each ending in CRLF) sent after the last chunk of a chunked body. */
  end(chunk?: Buffer, trailers = ""): void {
    if (this.finished) return;
    if (chunk !== undefined) this.write(chunk);
    this.finished = true;
    const s = this.#conn.socket;
    const head = this.#head;
    if (head !== undefined) {
      this.#head = undefined;
      s.write(head, "latin1");
    }
    if (this.#chunked && !this.#bodiless && s.writable)
      s.write(trailers === "" ? LAST_CHUNK : Buffer.from(`0\r\n${trailers}\r\n`, "latin1"));
    if (this.#corked) {
      this.#corked = false;
      s.uncork();
    }
    this.#conn.responseDone();
  }

  /** The response cannot be completed: the client sees the connection end (it cannot mistake a partial body). */
  destroy(): void {
    this.finished = true;
    this.#head = undefined;
    this.#conn.socket.destroy();
  }

  /** After a 101 from the upstream: `rawHead` goes to the client as received, then bytes flow both ways. */
  /** `closed` hears the bytes the client sent and received through the tunnel once it ended. */
  tunnel(rawHead: Buffer, peer: Socket, closed?: (received: number, sent: number) => void): void {
    this.headersSent = true;
    this.finished = true;
    this.status = 101;
    this.#conn.socket.write(rawHead);
    this.#conn.tunnel(peer, closed);
  }
}

/**
 * Responses whose head is still held: flushed once at the end of the tick, one process.nextTick for all of
 * them rather than one per response (a response that ends within the tick has written everything already).
 */
let held: EngineResponse[] = [];

function holdUntilTickEnd(res: EngineResponse): void {
  if (held.length === 0) process.nextTick(flushAllHeld);
  held.push(res);
}

function flushAllHeld(): void {
  const list = held;
  held = [];
  for (const res of list) res.flushHeld();
}

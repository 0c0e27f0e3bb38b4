import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { Socket } from "node:net";
import type { DownstreamResponse } from "../downstream.ts";
import type { EngineRequest } from "../request.ts";

/** Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2), besides those forward-head.ts already drops. */
const FORBIDDEN = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"]);

/**
 * The response to one HTTP/2 stream. The head is one HEADERS frame; a body of length 0 ends the stream with
 * it (a gRPC "trailers-only" answer); otherwise the stream waits for its trailers after the last DATA frame
 * (gRPC's grpc-status comes there), and a response without trailers ends with an empty trailer block.
 */
export class H2Response implements DownstreamResponse {
  readonly #stream: ServerHttp2Stream;
  readonly #req: EngineRequest;
  headersSent = false;
  finished = false;
  status = 0;
  bytes = 0;
  #bodiless = false;
  #ended = false;
  #trailers: OutgoingHttpHeaders | undefined;

  constructor(stream: ServerHttp2Stream, req: EngineRequest) {
    this.#stream = stream;
    this.#req = req;
  }

  get writable(): boolean {
    return !this.finished && !this.#stream.destroyed && !this.#stream.closed && !this.#req.aborted;
  }

  closeAfter(): void {
    // A stream's end never closes its session: nothing to do.
  }

  writeHead(status: number, _reason: string | undefined, fields: readonly string[], length: number): void {
    if (this.headersSent || this.#stream.destroyed) return;
    this.headersSent = true;
    this.status = status;
    const headers: OutgoingHttpHeaders = { ":status": status };
    for (let i = 0; i < fields.length; i += 2) {
      const name = (fields[i] as string).toLowerCase();
      if (FORBIDDEN.has(name) || name === "content-length" || name.charCodeAt(0) === 58) continue;
      const value = fields[i + 1] as string;
      const prev = headers[name];
      if (prev === undefined) headers[name] = value;
      else if (Array.isArray(prev)) prev.push(value);
      else headers[name] = [String(prev), value];
    }
    this.#bodiless = status === 204 || status === 304 || this.#req.method === "HEAD";
    if (length >= 0 && status !== 204 && status !== 304) headers["content-length"] = length;
    if (this.#bodiless || length === 0) {
      this.#ended = true;
      this.#stream.respond(headers, { endStream: true });
      return;
    }
    this.#stream.respond(headers, { waitForTrailers: true });
    this.#stream.once("wantTrailers", () => {
      if (!this.#stream.destroyed) this.#stream.sendTrailers(this.#trailers ?? {});
    });
  }

  write(chunk: Buffer): boolean {
    if (this.#bodiless || this.#ended || chunk.length === 0) return true;
    this.bytes += chunk.length;
    if (this.#stream.destroyed) return true;
    return this.#stream.write(chunk);
  }

  onDrain(fn: () => void): void {
    this.#stream.once("drain", fn);
  }

  end(chunk?: Buffer, trailers = ""): void {
    if (this.finished) return;
    if (chunk !== undefined) this.write(chunk);
    this.finished = true;
    if (this.#ended || this.#stream.destroyed) return;
    this.#ended = true;
    if (trailers !== "") this.#trailers = trailerFields(trailers);
    this.#stream.end();
  }

  destroy(): void {
    this.finished = true;
    if (!this.#stream.destroyed) this.#stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  }

  /** A stream never becomes a tunnel (no WebSocket over HTTP/2 here): the stream is reset. */
  tunnel(_rawHead: Buffer, peer: Socket): void {
    peer.destroy();
    this.destroy();
  }
}

/** Trailer lines ("name: value" + CRLF each, as the HTTP/1.1 side keeps them) as HTTP/2 trailer fields. */
export function trailerFields(lines: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const line of lines.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (FORBIDDEN.has(name) || name === "content-length" || name.charCodeAt(0) === 58) continue;
    out[name] = line.slice(colon + 1).trim();
  }
  return out;
}

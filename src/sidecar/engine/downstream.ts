import type { Socket } from "node:net";

/**
 * What the stages write a response through, whatever the client's transport: an HTTP/1.1 connection
 * (response.ts) or one HTTP/2 stream (h2/response.ts). The stages never see which.
 */
export interface DownstreamResponse {
  readonly headersSent: boolean;
  readonly finished: boolean;
  readonly status: number;
  /** Body bytes written. */
  readonly bytes: number;
  /** The response can still be written (not finished, the client still there). */
  readonly writable: boolean;
  /** Asks for the connection to close after this response (HTTP/1.1; a stream of HTTP/2 never closes its session). */
  closeAfter(): void;
  /** `fields` is [name, value, ...] without hop-by-hop fields; `length` the body's length, -1 when unknown. */
  writeHead(status: number, reason: string | undefined, fields: readonly string[], length: number): void;
  /** A piece of the body; false: wait for `onDrain`. */
  write(chunk: Buffer): boolean;
  onDrain(fn: () => void): void;
  /** `trailers`: field lines, each ending in CRLF, sent after the body. */
  end(chunk?: Buffer, trailers?: string): void;
  /** The response cannot be completed: the client sees a reset, never a partial body taken for whole. */
  destroy(): void;
  /** After a 101 from the upstream (HTTP/1.1 only). */
  tunnel(rawHead: Buffer, peer: Socket, closed?: (received: number, sent: number) => void): void;
}

import { HttpError } from "./head.ts";

/**
 * Message bodies as they arrive: a Content-Length count or the chunked
 * coding (RFC 9112 §7.1), decoded incrementally from whatever Buffers the
 * socket gives. Data is handed on as slices of those Buffers, never copied
 * or turned into strings.
 */
export interface BodySink {
  /** A piece of the body; false asks the producer to pause until the sink drains. */
  data(chunk: Buffer): boolean;
  /** The body is complete. */
  end(): void;
}

/** What a decoder did with one Buffer: bytes past the body's end belong to the next message. */
export interface Consumed {
  /** The body ended within this Buffer. */
  done: boolean;
  /** Where the next message starts in the Buffer (its length when none of it is left). */
  rest: number;
  /** False when the sink asked for a pause. */
  more: boolean;
}

export interface BodyDecoder {
  push(buf: Buffer, from: number, sink: BodySink): Consumed;
  readonly done: boolean;
}

/** A body of exactly `length` bytes. */
export class LengthDecoder implements BodyDecoder {
  #left: number;

  constructor(length: number) {
    this.#left = length;
  }

  get done(): boolean {
    return this.#left === 0;
  }

  push(buf: Buffer, from: number, sink: BodySink): Consumed {
    const take = Math.min(this.#left, buf.length - from);
    let more = true;
    if (take > 0) {
      this.#left -= take;
      more = sink.data(from === 0 && take === buf.length ? buf : buf.subarray(from, from + take));
    }
    if (this.#left === 0) sink.end();
    return { done: this.#left === 0, rest: from + take, more };
  }
}

/** A response body delimited by the connection's end. */
export class CloseDecoder implements BodyDecoder {
  done = false;

  push(buf: Buffer, from: number, sink: BodySink): Consumed {
    const more = from < buf.length ? sink.data(from === 0 ? buf : buf.subarray(from)) : true;
    return { done: false, rest: buf.length, more };
  }

  /** The connection ended: so did the body. */
  finish(sink: BodySink): void {
    this.done = true;
    sink.end();
  }
}

export interface ChunkLimits {
  /** Bytes of one chunk's extensions. */
  readonly maxExtension: number;
  /** Bytes of the trailer section. */
  readonly maxTrailer: number;
}

export const DEFAULT_CHUNK_LIMITS: ChunkLimits = { maxExtension: 4096, maxTrailer: 16 * 1024 };

const SIZE = 0;
const SIZE_DIGITS = 1;
const EXT = 2;
const SIZE_LF = 3;
const DATA = 4;
const DATA_CR = 5;
const DATA_LF = 6;
const TRAILER = 7;
const TRAILER_LF = 8;
const DONE = 9;

/** 15 hex digits: below 2^60 but beyond any body; more are an overflow (refused, never wrapped). */
const MAX_SIZE_DIGITS = 15;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * The chunked coding: chunk-size [ chunk-ext ] CRLF data CRLF ... 0 CRLF
 * trailer-section CRLF. Extensions are checked for bytes and length and
 * dropped; the trailer section is checked (no bare CR, LF or NUL, at most
 * `maxTrailer` bytes) and kept as its lines, so a response's trailers
 * (gRPC's status) can be passed on. Any deviation is a 400 (`HttpError`).
 */
export class ChunkedDecoder implements BodyDecoder {
  readonly #limits: ChunkLimits;
  #state = SIZE;
  #size = 0;
  #digits = 0;
  #ext = 0;
  #trailer = 0;
  /** Bytes of the current trailer line: 0 means the line is empty (the end of the section). */
  #line = 0;
  #trailers = "";

  constructor(limits: ChunkLimits = DEFAULT_CHUNK_LIMITS) {
    this.#limits = limits;
  }

  get done(): boolean {
    return this.#state === DONE;
  }

  /** The trailer section's field lines, each ending in CRLF; "" when there were none. */
  get trailers(): string {
    return this.#trailers;
  }

  push(buf: Buffer, from: number, sink: BodySink): Consumed {
    let i = from;
    let more = true;
    const n = buf.length;
    while (i < n) {
      const state = this.#state;
      if (state === DATA) {
        const take = Math.min(this.#size, n - i);
        this.#size -= take;
        if (!sink.data(buf.subarray(i, i + take))) more = false;
        i += take;
        if (this.#size === 0) this.#state = DATA_CR;
        continue;
      }
      const c = buf[i++] as number;
      switch (state) {
        case SIZE:
        case SIZE_DIGITS: {
          const h = hexValue(c);
          if (h >= 0) {
            if (++this.#digits > MAX_SIZE_DIGITS) throw chunkError("chunk size overflow");
            this.#size = this.#size * 16 + h;
            this.#state = SIZE_DIGITS;
          } else if (state === SIZE) {
            throw chunkError("invalid chunk size");
          } else if (c === 59 /* ; */ || c === 32 || c === 9) {
            // BWS before `;` is tolerated (RFC 9112 §7.1.1); what follows is extension bytes.
            this.#state = EXT;
            this.#ext = 1;
          } else if (c === 13) {
            this.#state = SIZE_LF;
          } else {
            throw chunkError("invalid chunk size");
          }
          break;
        }
        case EXT:
          if (c === 13) this.#state = SIZE_LF;
          else if ((c < 32 && c !== 9) || c === 127) throw chunkError("control byte in a chunk extension");
          else if (++this.#ext > this.#limits.maxExtension) throw chunkError("chunk extension too long");
          break;
        case SIZE_LF:
          if (c !== 10) throw chunkError("bare CR in chunk size line");
          this.#digits = 0;
          if (this.#size === 0) {
            this.#state = TRAILER;
            this.#line = 0;
          } else {
            this.#state = DATA;
          }
          break;
        case DATA_CR:
          if (c !== 13) throw chunkError("chunk data longer than its size");
          this.#state = DATA_LF;
          break;
        case DATA_LF:
          if (c !== 10) throw chunkError("bare CR after chunk data");
          this.#state = SIZE;
          break;
        case TRAILER:
          if (c === 13) {
            this.#state = TRAILER_LF;
          } else if (c === 10 || c === 0) {
            throw chunkError("bare LF or NUL in trailer");
          } else {
            if (++this.#trailer > this.#limits.maxTrailer) throw chunkError("trailer section too long");
            this.#line++;
            // Trailers are rare and bounded: a byte at a time costs nothing that matters.
            this.#trailers += String.fromCharCode(c);
          }
          break;
        case TRAILER_LF:
          if (c !== 10) throw chunkError("bare CR in trailer");
          if (this.#line === 0) {
            this.#state = DONE;
            sink.end();
            return { done: true, rest: i, more };
          }
          this.#trailers += "\r\n";
          this.#line = 0;
          this.#state = TRAILER;
          break;
      }
    }
    return { done: false, rest: n, more };
  }
}

function chunkError(message: string): HttpError {
  return new HttpError(400, "ERR_CHUNKED", message);
}

const CRLF = Buffer.from("\r\n", "latin1");
const LAST_CHUNK = Buffer.from("0\r\n\r\n", "latin1");

/** The chunk framing for one piece of data: its size line; the data itself is written as the Buffer it is. */
export function chunkHeader(length: number): Buffer {
  return Buffer.from(`${length.toString(16)}\r\n`, "latin1");
}

/** Writes `data` as one chunk on `out` (three writes, one syscall when corked). */
export function writeChunk(out: { write(b: Buffer): boolean }, data: Buffer): boolean {
  out.write(chunkHeader(data.length));
  out.write(data);
  return out.write(CRLF);
}

export { LAST_CHUNK };

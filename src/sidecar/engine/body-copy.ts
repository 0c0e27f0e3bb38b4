import type { BodySink } from "./body.ts";
import type { EngineRequest } from "./request.ts";

/** What an exchange reads a streamed request body from: the client's request, or a copy on its way. */
export interface BodySource {
  readBody(sink: BodySink): void;
  pause(): void;
  resume(): void;
}

/**
 * The client's streamed body on its way to the first attempt, kept as it passes (up to `limit` bytes) so a
 * retry can send it again after the first attempt already consumed it. Nothing waits for the copy: the body
 * flows upstream with its backpressure as it would without one. A body past the limit drops the copy.
 */
export class BodyCopy implements BodySource {
  readonly #req: EngineRequest;
  readonly #limit: number;
  #chunks: Buffer[] | undefined = [];
  #bytes = 0;
  #whole: Buffer | undefined;
  /** The first attempt started reading the body: from now on only the copy can be sent again. */
  started = false;

  constructor(req: EngineRequest, limit: number) {
    this.#req = req;
    this.#limit = limit;
  }

  /** The whole body, once it ended within the limit; undefined while it streams or once it passed the limit. */
  get whole(): Buffer | undefined {
    return this.#whole;
  }

  readBody(sink: BodySink): void {
    this.started = true;
    this.#req.readBody({
      data: (c) => {
        const chunks = this.#chunks;
        if (chunks !== undefined) {
          this.#bytes += c.length;
          // The connection hands each chunk over for good (nothing reuses it), so keeping the reference is a copy.
          if (this.#bytes > this.#limit) this.#chunks = undefined;
          else chunks.push(c);
        }
        return sink.data(c);
      },
      end: () => {
        if (this.#chunks !== undefined) this.#whole = Buffer.concat(this.#chunks, this.#bytes);
        this.#chunks = undefined;
        sink.end();
      },
    });
  }

  pause(): void {
    this.#req.pause();
  }

  resume(): void {
    this.#req.resume();
  }
}

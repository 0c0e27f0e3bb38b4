import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import type { Dispatcher } from "undici";
import type { Recording } from "../resilience/stale-cache.ts";

export type AttemptError = "connect" | "reset" | "timeout";
/** How a response that streamed to the client ended: whole, cut off by the upstream, or by the client leaving. */
export type StreamEnd = "complete" | "upstream-reset" | "client-gone";

const CONNECT_ERRORS = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** Why the data path gave up on an attempt: its error names the outcome. */
export class AttemptTimeoutError extends Error {
  readonly code = "EATTEMPT_TIMEOUT";
}
/** The client went away: the attempt is dropped, and says nothing about the upstream's health. */
export class ClientGoneError extends Error {
  readonly code = "ECLIENT_GONE";
}

/** What an error code says about an upstream attempt. */
export function attemptErrorOf(code: string): AttemptError {
  if (CONNECT_ERRORS.has(code)) return "connect";
  if (code === "EATTEMPT_TIMEOUT") return "timeout";
  return "reset";
}

/**
 * One request to one upstream endpoint over undici's dispatch API. The
 * attempt settles when the response head arrives (or the attempt fails).
 * A settle callback that knows the response is final streams it at once
 * (`pipeTo` from inside the callback); otherwise the body waits, paused,
 * until the data path decides: stream it to the client, or discard it
 * because the attempt is retried.
 */
export class UpstreamExchange implements Dispatcher.DispatchHandler {
  status = 0;
  statusMessage: string | undefined;
  headers: IncomingHttpHeaders | undefined;
  /** The head as received: names in the upstream's case, duplicates kept. */
  rawHeaders: readonly (Buffer | string)[] = [];
  error: AttemptError | undefined;
  /** The request cannot be written as HTTP/1.1 (undici's checks on method, path and headers): no upstream saw it. */
  invalid: string | undefined;
  /** Aborted because the client went away before the response head. */
  cancelled = false;
  /** Request body bytes undici wrote upstream, and response body bytes passed to the client. */
  sentBytes = 0;
  receivedBytes = 0;
  /** grpc-status of a gRPC response, from its head (trailers-only) or its trailers; "" when none. */
  grpcStatus = "";
  readonly #settle: (x: UpstreamExchange) => void;
  #controller: Dispatcher.DispatchController | undefined;
  #abortReason: Error | undefined;
  /** undefined until decided; null discards the body. */
  #sink: ServerResponse | null | undefined;
  #tap: Recording | undefined;
  #ended: ((how: StreamEnd) => void) | undefined;
  #finished = false;
  /** Set when the response broke off after its head: by which side. */
  #broken: Exclude<StreamEnd, "complete"> | undefined;
  readonly #resume = () => this.#controller?.resume();

  constructor(settle: (x: UpstreamExchange) => void) {
    this.#settle = settle;
  }

  /**
   * Ends the exchange wherever it is; no-op once the response completed. A
   * request still queued in the pool (every connection busy) has no
   * controller yet: it settles now, and is aborted when undici starts it.
   */
  abort(reason: Error): void {
    if (this.#finished) return;
    if (this.#controller !== undefined) {
      this.#controller.abort(reason);
      return;
    }
    this.#abortReason = reason;
    this.onResponseError(null, reason);
  }

  /** Streams the (paused) body to the client, copying it into `tap` when given; `ended` hears how it ended. */
  pipeTo(res: ServerResponse, tap: Recording | undefined, ended: (how: StreamEnd) => void): void {
    if (this.#broken !== undefined) {
      res.destroy();
      ended(this.#broken);
      return;
    }
    this.#sink = res;
    this.#tap = tap;
    this.#ended = ended;
    this.#controller?.resume();
  }

  /** Reads and drops the body, so the keep-alive connection can be reused. */
  discard(): void {
    this.#sink = null;
    this.#controller?.resume();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortReason !== undefined) controller.abort(this.#abortReason);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    status: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    // Informational responses are hop-by-hop: the client gets the final one only.
    if (status < 200) return;
    this.status = status;
    this.statusMessage = statusMessage;
    this.headers = headers;
    const grpc = headers["grpc-status"];
    if (typeof grpc === "string") this.grpcStatus = grpc;
    if (Array.isArray(controller.rawHeaders)) this.rawHeaders = controller.rawHeaders;
    this.#settle(this);
    // Unless the settle callback streamed it at once, the body waits for the data path's decision.
    if (this.#sink === undefined) controller.pause();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#tap?.write(chunk);
    const sink = this.#sink;
    if (sink === null || sink === undefined) return;
    this.receivedBytes += chunk.length;
    if (!sink.write(chunk)) {
      controller.pause();
      sink.once("drain", this.#resume);
    }
  }

  /** undici calls it for every piece of the request body written to the socket. */
  onBodySent(chunk: Buffer | string): void {
    this.sentBytes += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    const grpc = trailers?.["grpc-status"];
    if (typeof grpc === "string") this.grpcStatus = grpc;
    this.#finished = true;
    this.#tap?.end();
    // Trailers (gRPC's status travels in them) go on to the client; Node writes them on a chunked response only.
    if (
      this.#sink &&
      trailers !== undefined &&
      Object.keys(trailers).length > 0 &&
      !this.#sink.hasHeader("content-length")
    )
      this.#sink.addTrailers(trailers as Record<string, string>);
    this.#sink?.end();
    this.#ended?.("complete");
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.status === 0) {
      const code = (err as NodeJS.ErrnoException).code ?? "";
      if (code === "UND_ERR_INVALID_ARG" || code === "UND_ERR_NOT_SUPPORTED") this.invalid = err.message;
      else if (code === "ECLIENT_GONE") this.cancelled = true;
      else this.error = attemptErrorOf(code);
      this.#settle(this);
      return;
    }
    this.#broken = err instanceof ClientGoneError ? "client-gone" : "upstream-reset";
    this.#tap?.abort();
    this.#sink?.destroy();
    this.#ended?.(this.#broken);
  }
}

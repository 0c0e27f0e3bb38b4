import type { RequestView } from "../request-view.ts";
import type { BodySink } from "./body.ts";
import type { Head } from "./head.ts";

/** What the connection does for its current request: body delivery, and who hears that the client left. */
export interface RequestChannel {
  startBody(req: EngineRequest): void;
  pauseBody(): void;
  resumeBody(): void;
}

/** One parsed request on an engine connection. */
export class EngineRequest implements RequestView {
  readonly method: string;
  readonly url: string;
  /** Normalized path (engine/path.ts), what routes match and what is forwarded. */
  readonly path: string;
  /** "?..." or "". */
  readonly query: string;
  /** The authority requests are routed by: the absolute-form URI's, else Host; as sent (port kept). */
  readonly authority: string;
  readonly head: Head;
  #headers: Record<string, string | string[] | undefined> | undefined;
  /** The client's address, and its verified SPIFFE ID when it came over mTLS (for policies and logs). */
  readonly socket: { readonly remoteAddress?: string | undefined; readonly peerIdentity?: string | undefined };
  /** The client asked for `100 Continue` before it sends the body. */
  readonly expectContinue: boolean;
  /** `websocket` for a GET that asks to upgrade to it; undefined otherwise (h2c and others are ignored). */
  readonly upgrade: string | undefined;
  /** The request came on an HTTP/2 stream (h2/server.ts). */
  readonly h2: boolean;
  /** An HTTP/2 request with a gRPC content type: local answers are gRPC statuses (h2/grpc.ts). */
  readonly grpc: boolean;
  /** The body has been read to its end (or there was none). */
  complete: boolean;
  /** The client went away before the response ended. */
  aborted = false;
  sink: BodySink | undefined;
  /** Bytes of body received so far. */
  bodyBytes = 0;
  readonly #channel: RequestChannel;
  #onAbort: (() => void) | undefined;
  #onComplete: (() => void) | undefined;

  constructor(
    head: Head,
    parts: {
      path: string;
      query: string;
      authority: string;
      upgrade: string | undefined;
      h2?: boolean;
      grpc?: boolean;
    },
    remoteAddress: string | undefined,
    channel: RequestChannel,
    peerIdentity?: string,
  ) {
    this.head = head;
    this.method = head.method;
    this.url = head.target;
    this.path = parts.path;
    this.query = parts.query;
    this.authority = parts.authority;
    this.upgrade = parts.upgrade;
    this.h2 = parts.h2 === true;
    this.grpc = parts.grpc === true;
    this.socket = { remoteAddress, peerIdentity };
    const expect = head.minor === 1 ? head.names.indexOf("expect") : -1;
    // One Expect field saying exactly that (two would join into a value that is not "100-continue").
    this.expectContinue =
      expect >= 0 && head.names.indexOf("expect", expect + 1) < 0 && head.values[expect] === "100-continue";
    this.complete = head.framing === "none";
    this.#channel = channel;
  }

  /**
   * The lower-cased field record matchers and hash keys read: built on first use, so a request no route,
   * hash or limit looks into does not pay for it. Changes to it (the absolute-form Host) are kept.
   */
  get headers(): Record<string, string | string[] | undefined> {
    if (this.#headers === undefined) this.#headers = fieldRecord(this.head.names, this.head.values);
    return this.#headers;
  }

  get hasBody(): boolean {
    return this.head.framing !== "none";
  }

  /** Starts delivering the body to `sink` (sending `100 Continue` first when the client waits for it). */
  readBody(sink: BodySink): void {
    this.sink = sink;
    this.#channel.startBody(this);
  }

  pause(): void {
    this.#channel.pauseBody();
  }

  resume(): void {
    this.#channel.resumeBody();
  }

  /** `fn` runs once if the client leaves before the response ended. */
  onAbort(fn: () => void): void {
    this.#onAbort = fn;
  }

  /** `fn` runs once the whole body arrived (at once when there is none). */
  onComplete(fn: () => void): void {
    if (this.complete) fn();
    else this.#onComplete = fn;
  }

  /** Called by the connection. */
  markComplete(): void {
    this.complete = true;
    const fn = this.#onComplete;
    this.#onComplete = undefined;
    fn?.();
  }

  /** Called by the connection. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const fn = this.#onAbort;
    this.#onAbort = undefined;
    fn?.();
  }
}

/** The lower-cased field record: repeated fields joined as a node:http IncomingMessage joins them. */
function fieldRecord(
  names: readonly string[],
  values: readonly string[],
): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = Object.create(null);
  for (let i = 0; i < names.length; i++) {
    const n = names[i] as string;
    const v = values[i] as string;
    const prev = out[n];
    if (prev === undefined) out[n] = n === "set-cookie" ? [v] : v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[n] = `${prev}${n === "cookie" ? "; " : ", "}${v}`;
  }
  return out;
}

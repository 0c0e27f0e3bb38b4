import { randomFillSync } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";

/** RFC 9110 §7.6.1 connection-specific fields, never forwarded. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** `Connection: keep-alive` or `close`, which name no other field: most requests and responses carry one of them. */
const PLAIN_CONNECTION = /^\s*(?:keep-alive|close)\s*$/i;

function connectionTokens(connection: string | undefined): Set<string> | undefined {
  if (connection === undefined || PLAIN_CONNECTION.test(connection)) return undefined;
  const out = new Set<string>();
  for (const t of connection.split(",")) {
    const v = t.trim().toLowerCase();
    if (v !== "" && v !== "close" && v !== "keep-alive") out.add(v);
  }
  return out.size === 0 ? undefined : out;
}

/**
 * The upstream request's headers as a raw [name, value, ...] list: the
 * client's name case kept, hop-by-hop fields dropped, x-forwarded-for
 * extended, x-forwarded-proto, x-request-id and traceparent added when absent.
 * `Expect: 100-continue` is answered here (Node's server sends the 100), so it
 * is not forwarded either.
 */
export function upstreamHeaders(req: IncomingMessage): string[] {
  const raw = req.rawHeaders;
  const extra = connectionTokens(req.headers.connection);
  const out: string[] = [];
  let xff: string | undefined;
  let hasProto = false;
  let hasRequestId = false;
  let hasTrace = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || extra?.has(lower) === true || lower === "expect") continue;
    if (lower === "x-forwarded-for") {
      xff = xff === undefined ? value : `${xff}, ${value}`;
      continue;
    }
    if (lower === "x-forwarded-proto") hasProto = true;
    else if (lower === "x-request-id") hasRequestId = true;
    else if (lower === "traceparent") hasTrace = true;
    out.push(name, value);
  }
  const peer = req.socket.remoteAddress ?? "";
  out.push("x-forwarded-for", xff === undefined ? peer : `${xff}, ${peer}`);
  if (!hasProto) out.push("x-forwarded-proto", "http");
  if (!hasRequestId) out.push("x-request-id", requestIds.next());
  if (!hasTrace) out.push("traceparent", traceparents.next());
  return out;
}

/**
 * The response's headers as a flat [name, value, ...] list with the
 * upstream's name case kept and hop-by-hop fields dropped. `raw` is undici's
 * raw list (Buffers from its parser); `parsed` is the same, lower-cased.
 */
export function downstreamHeaders(
  raw: readonly (Buffer | string)[],
  parsed: IncomingHttpHeaders | undefined,
): string[] {
  const connection = parsed?.connection;
  const extra = connectionTokens(Array.isArray(connection) ? connection.join(",") : connection);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]?.toString("latin1") ?? "";
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || extra?.has(lower) === true) continue;
    out.push(name, raw[i + 1]?.toString("latin1") ?? "");
  }
  return out;
}

/**
 * Request ids and trace contexts are made 64 at a time into one string of fixed-width entries, from one
 * getrandom call: a request takes its value as one slice of that string (which V8 keeps as a view, not a
 * copy) instead of a string built from parts per request.
 */
const BATCH = 64;
const HEX = Buffer.from("0123456789abcdef", "latin1");
const VARIANT = Buffer.from("89ab", "latin1");
/** Template characters: a random hex digit, and a random RFC 9562 variant digit. */
const RANDOM_HEX = "x".charCodeAt(0);
const RANDOM_VARIANT = "v".charCodeAt(0);

class RandomPool {
  readonly #width: number;
  /** Where the random digits go in the batch; the template's fixed characters are written once. */
  readonly #hexAt: Uint32Array;
  readonly #variantAt: Uint32Array;
  /** One random byte gives two hex digits, or one variant digit. */
  readonly #random: Buffer;
  readonly #out: Buffer;
  #values = "";
  #offset = 0;

  constructor(template: string) {
    this.#width = template.length;
    this.#out = Buffer.from(template.repeat(BATCH), "latin1");
    const hexAt: number[] = [];
    const variantAt: number[] = [];
    this.#out.forEach((c, i) => {
      if (c === RANDOM_HEX) hexAt.push(i);
      else if (c === RANDOM_VARIANT) variantAt.push(i);
    });
    this.#hexAt = Uint32Array.from(hexAt);
    this.#variantAt = Uint32Array.from(variantAt);
    this.#random = Buffer.allocUnsafe(Math.ceil(hexAt.length / 2) + variantAt.length);
  }

  next(): string {
    if (this.#offset === this.#values.length) this.#refill();
    const o = this.#offset;
    this.#offset += this.#width;
    return this.#values.slice(o, this.#offset);
  }

  #refill(): void {
    const r = randomFillSync(this.#random);
    const out = this.#out;
    const hexAt = this.#hexAt;
    let k = 0;
    for (let i = 0; i < hexAt.length; i += 2) {
      const b = r[k++] as number;
      out[hexAt[i] as number] = HEX[b >> 4] as number;
      if (i + 1 < hexAt.length) out[hexAt[i + 1] as number] = HEX[b & 15] as number;
    }
    for (const at of this.#variantAt) out[at] = VARIANT[(r[k++] as number) & 3] as number;
    this.#values = out.toString("latin1");
    this.#offset = 0;
  }
}

/** Random (version 4) UUIDs, as Envoy generates for x-request-id. */
const requestIds = new RandomPool("xxxxxxxx-xxxx-4xxx-vxxx-xxxxxxxxxxxx");

/** W3C trace contexts (sampled): 16 random bytes of trace id, 8 of span id. */
const traceparents = new RandomPool(`00-${"x".repeat(32)}-${"x".repeat(16)}-01`);

/** A new x-request-id. */
export function nextRequestId(): string {
  return requestIds.next();
}

/** A new sampled W3C traceparent. */
export function nextTraceparent(): string {
  return traceparents.next();
}

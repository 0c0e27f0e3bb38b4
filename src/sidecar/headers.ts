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
 * extended, x-forwarded-proto added when absent (x-request-id, the trace headers
 * and x-meshlet-source are telemetry's: `Telemetry.outgoingHeaders`).
 * `Expect: 100-continue` is answered here (Node's server sends the 100), so it
 * is not forwarded either.
 */
export function upstreamHeaders(req: IncomingMessage): string[] {
  const raw = req.rawHeaders;
  const extra = connectionTokens(req.headers.connection);
  const out: string[] = [];
  let xff: string | undefined;
  let hasProto = false;
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
    out.push(name, value);
  }
  const peer = req.socket.remoteAddress ?? "";
  out.push("x-forwarded-for", xff === undefined ? peer : `${xff}, ${peer}`);
  if (!hasProto) out.push("x-forwarded-proto", "http");
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

import type { OutgoingHttpHeaders } from "node:http2";
import type { EngineRequest } from "../engine/request.ts";
import type { RequestRecord } from "../telemetry/record.ts";
import { SOURCE_HEADER } from "../telemetry/source-identity.ts";
import type { Telemetry } from "../telemetry/telemetry.ts";
import { isTraceHeader } from "../telemetry/trace-context.ts";

/** RFC 9110 §7.6.1 connection-specific fields, never forwarded (framing fields are rebuilt from the body). */
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
  "expect",
  "content-length",
  "http2-settings",
]);

/** Fields the Connection field names (besides close/keep-alive/upgrade): hop-by-hop too. */
function named(connection: readonly string[]): ReadonlySet<string> | undefined {
  let out: Set<string> | undefined;
  for (const t of connection) {
    if (t === "close" || t === "keep-alive") continue;
    out ??= new Set();
    out.add(t);
  }
  return out;
}

/**
 * The upstream request head: origin-form target on the normalized path,
 * the client's fields in their case minus hop-by-hop ones, Host from the
 * absolute-form authority when there was one, x-forwarded-for extended,
 * x-forwarded-proto added when absent, telemetry's fields (x-meshlet-source,
 * x-request-id when the client sent none, the trace headers of this
 * sidecar's span, replacing the client's), and the framing of the body as it
 * will be sent. A WebSocket upgrade keeps `Upgrade` and says
 * `Connection: upgrade`.
 */
export function upstreamHead(
  req: EngineRequest,
  held: Buffer | undefined,
  rec: RequestRecord,
  telemetry: Telemetry,
): string {
  const h = req.head;
  const extra = named(h.connection);
  // With a span of ours the client's trace fields are replaced; without one they pass as they came.
  const ownTrace = rec.span !== undefined;
  let out = `${req.method} ${req.path === "*" ? "*" : req.path + req.query} HTTP/1.1\r\n`;
  let xff: string | undefined;
  let hasProto = false;
  const absolute = req.url.charCodeAt(0) !== 47 && req.url !== "*";
  for (let i = 0; i < h.names.length; i++) {
    const lower = h.names[i] as string;
    const value = h.values[i] as string;
    if (HOP_BY_HOP.has(lower) || extra?.has(lower) === true || lower === SOURCE_HEADER) continue;
    if (ownTrace && isTraceHeader(lower)) continue;
    if (lower === "x-forwarded-for") {
      xff = xff === undefined ? value : `${xff}, ${value}`;
      continue;
    }
    if (lower === "host" && absolute) {
      out += `${h.rawNames[i]}: ${req.authority}\r\n`;
      continue;
    }
    if (lower === "x-forwarded-proto") hasProto = true;
    out += `${h.rawNames[i]}: ${value}\r\n`;
  }
  const peer = req.socket.remoteAddress ?? "";
  out += `x-forwarded-for: ${xff === undefined ? peer : `${xff}, ${peer}`}\r\n`;
  if (!hasProto) out += "x-forwarded-proto: http\r\n";
  const added: string[] = [];
  telemetry.outgoingHeaders(rec, added);
  for (let i = 0; i < added.length; i += 2) out += `${added[i]}: ${added[i + 1]}\r\n`;
  if (req.upgrade !== undefined) out += `upgrade: ${req.upgrade}\r\nconnection: upgrade\r\n`;
  else if (held !== undefined) out += `content-length: ${held.length}\r\n`;
  else if (h.framing === "length") out += `content-length: ${h.contentLength}\r\n`;
  else if (h.framing === "chunked") out += "transfer-encoding: chunked\r\n";
  return `${out}\r\n`;
}

/**
 * The upstream request as an HTTP/2 header block: the same fields as `upstreamHead` (hop-by-hop ones dropped,
 * x-forwarded-*, telemetry's), names lower-cased, pseudo-headers from the request, `te: trailers` kept (gRPC
 * servers require it), no framing fields (HTTP/2 frames the body itself).
 */
export function upstreamH2Headers(req: EngineRequest, rec: RequestRecord, telemetry: Telemetry): OutgoingHttpHeaders {
  const h = req.head;
  const extra = named(h.connection);
  const ownTrace = rec.span !== undefined;
  const out: OutgoingHttpHeaders = {
    ":method": req.method,
    ":path": req.path === "*" ? "*" : req.path + req.query,
    ":scheme": "http",
    ":authority": req.authority,
  };
  let xff: string | undefined;
  let trailers = false;
  for (let i = 0; i < h.names.length; i++) {
    const lower = h.names[i] as string;
    const value = h.values[i] as string;
    if (lower === "te") {
      if (value.toLowerCase().includes("trailers")) trailers = true;
      continue;
    }
    if (lower === "host" || HOP_BY_HOP.has(lower) || extra?.has(lower) === true || lower === SOURCE_HEADER) continue;
    if (ownTrace && isTraceHeader(lower)) continue;
    if (lower === "x-forwarded-for") {
      xff = xff === undefined ? value : `${xff}, ${value}`;
      continue;
    }
    const prev = out[lower];
    if (prev === undefined) out[lower] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[lower] = [String(prev), value];
  }
  const peer = req.socket.remoteAddress ?? "";
  out["x-forwarded-for"] = xff === undefined ? peer : `${xff}, ${peer}`;
  if (out["x-forwarded-proto"] === undefined) out["x-forwarded-proto"] = "http";
  if (trailers) out.te = "trailers";
  const added: string[] = [];
  telemetry.outgoingHeaders(rec, added);
  for (let i = 0; i < added.length; i += 2) out[(added[i] as string).toLowerCase()] = added[i + 1] as string;
  return out;
}

/** The response's fields for the client: hop-by-hop ones (and those its Connection names) removed. */
export function downstreamFields(
  names: readonly string[],
  rawNames: readonly string[],
  values: readonly string[],
  connection: readonly string[],
): string[] {
  const extra = named(connection);
  const out: string[] = [];
  for (let i = 0; i < names.length; i++) {
    const lower = names[i] as string;
    if (HOP_BY_HOP.has(lower) || extra?.has(lower) === true) continue;
    out.push(rawNames[i] as string, values[i] as string);
  }
  return out;
}

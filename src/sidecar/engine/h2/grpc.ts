import { FLAGS_HEADER } from "../../resilience/replies.ts";

/** gRPC status codes (grpc/doc/statuscodes.md) the mesh answers with or retries on. */
export const GRPC = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** The retryOn names of gRPC statuses (as Envoy's retry_on), by code. */
export const GRPC_RETRY_NAMES: ReadonlyMap<number, string> = new Map([
  [1, "cancelled"],
  [4, "deadline-exceeded"],
  [8, "resource-exhausted"],
  [13, "internal"],
  [14, "unavailable"],
]);

/** A local answer's gRPC status: by its flag where it has one, else by its HTTP status (the gRPC spec's mapping). */
export function grpcCodeOf(flag: string, httpStatus: number): number {
  switch (flag) {
    case "UT":
      return GRPC.DEADLINE_EXCEEDED;
    case "RL":
      return GRPC.RESOURCE_EXHAUSTED;
    case "NR":
    case "UH":
    case "UF":
    case "UR":
    case "UO":
    case "CB":
      return GRPC.UNAVAILABLE;
  }
  switch (httpStatus) {
    case 400:
      return GRPC.INTERNAL;
    case 401:
      return GRPC.UNAUTHENTICATED;
    case 403:
      return GRPC.PERMISSION_DENIED;
    case 404:
      return GRPC.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GRPC.UNAVAILABLE;
    default:
      return httpStatus === 500 ? GRPC.INTERNAL : GRPC.UNKNOWN;
  }
}

/** grpc-message is percent-encoded (the gRPC HTTP/2 spec): anything outside printable ASCII, and '%'. */
export function encodeGrpcMessage(text: string): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    if (byte >= 0x20 && byte <= 0x7e && byte !== 0x25) out += String.fromCharCode(byte);
    else out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * A gRPC "trailers-only" answer: HTTP 200 whose one HEADERS frame carries grpc-status and grpc-message,
 * as gRPC clients expect any failure. The message names the mesh's flag.
 */
export function grpcReplyHeaders(code: number, message: string, flags: string): Record<string, string> {
  const h: Record<string, string> = {
    "content-type": "application/grpc",
    "grpc-status": String(code),
    "grpc-message": encodeGrpcMessage(message),
  };
  if (flags !== "-") h[FLAGS_HEADER] = flags;
  return h;
}

const UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 };

/**
 * grpc-timeout ("TimeoutValue TimeoutUnit": at most 8 digits, then H M S m u n) in milliseconds; undefined
 * when absent or malformed (then the route's timeout alone applies, as gRPC servers ignore a bad value).
 */
export function grpcTimeoutMs(value: string | undefined): number | undefined {
  if (value === undefined || value.length < 2 || value.length > 9) return undefined;
  const unit = UNITS[value.charAt(value.length - 1)];
  if (unit === undefined) return undefined;
  let n = 0;
  for (let i = 0; i < value.length - 1; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    n = n * 10 + c;
  }
  return n * unit;
}

/** A gRPC status value as received ("14"), as a code; undefined when not a plain decimal. */
export function grpcCode(value: string | undefined): number | undefined {
  if (value === undefined || value === "" || value.length > 3) return undefined;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    n = n * 10 + c;
  }
  return n;
}

/**
 * The body is exactly one length-prefixed gRPC message (a flag byte, a 4-byte big-endian length, the message):
 * what a unary call sends. A client-streaming or bidi call sends any number.
 */
export function isOneGrpcMessage(body: Buffer): boolean {
  return body.length >= 5 && body.readUInt32BE(1) === body.length - 5;
}

/** Statuses that say the server side failed: the breaker and outlier detection count them as a 5xx. */
export function isGrpcServerFailure(code: number | undefined): boolean {
  return (
    code === GRPC.UNAVAILABLE ||
    code === GRPC.INTERNAL ||
    code === GRPC.UNKNOWN ||
    code === GRPC.DEADLINE_EXCEEDED ||
    code === 15 /* DATA_LOSS */
  );
}

/**
 * A static fallback's answer to a gRPC call (fallback.static.grpc), built once per snapshot: a failure status
 * is trailers-only; status 0 is one message (the decoded `response`, empty when none) and then trailers.
 */
export function grpcStaticReply(g: { status: number; message?: string | undefined; response?: string | undefined }): {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  trailers?: string;
} {
  const headers: Record<string, string> = { "content-type": "application/grpc", "x-meshlet-fallback": "static" };
  const message = g.message === undefined ? undefined : encodeGrpcMessage(g.message);
  if (g.status !== GRPC.OK) {
    headers["grpc-status"] = String(g.status);
    if (message !== undefined) headers["grpc-message"] = message;
    return { status: 200, headers, body: Buffer.alloc(0) };
  }
  const msg = Buffer.from(g.response ?? "", "base64");
  const body = Buffer.allocUnsafe(5 + msg.length);
  body[0] = 0; // not compressed
  body.writeUInt32BE(msg.length, 1);
  msg.copy(body, 5);
  const trailers = `grpc-status: 0\r\n${message === undefined ? "" : `grpc-message: ${message}\r\n`}`;
  return { status: 200, headers, body, trailers };
}

/**
 * A local answer as a gRPC client must see it: a reply that already is a gRPC answer (a static fallback's
 * grpc, or one whose headers set grpc-status) is sent as it is (trailers-only unless it has trailers); any other becomes the gRPC status of its flag (or of its HTTP
 * status), with grpc-message naming the flag. The HTTP status is always 200.
 */
export function asGrpcReply(
  out: { status: number; headers: Record<string, string | string[]>; body: Buffer; trailers?: string },
  flags: string,
  reason: string,
): { status: number; headers: Record<string, string | string[]>; body: Buffer; trailers?: string } {
  if (out.trailers !== undefined) return { ...out, status: 200 };
  if (out.headers["grpc-status"] !== undefined) {
    return { status: 200, headers: { "content-type": "application/grpc", ...out.headers }, body: Buffer.alloc(0) };
  }
  const comma = flags.indexOf(",");
  const flag = comma < 0 ? flags : flags.slice(0, comma);
  const message = flag === "-" ? `${reason} (HTTP ${out.status})` : `${reason} (${flags})`;
  return {
    status: 200,
    headers: grpcReplyHeaders(grpcCodeOf(flag, out.status), message, flags),
    body: Buffer.alloc(0),
  };
}

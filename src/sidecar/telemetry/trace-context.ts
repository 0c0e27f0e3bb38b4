/**
 * Trace context in and out of the sidecar: W3C Trace Context (`traceparent`,
 * `tracestate`) and Zipkin B3, as one header (`b3`) or several (`x-b3-*`).
 *
 * The values come from any client, so parsing is strict and bounded: ids are
 * lower-case hex of the exact length and never all zeros, a value too long or
 * malformed is no context at all (the request then starts a new trace, as the
 * W3C spec asks), and nothing here throws. Headers are a flat
 * [name, value, name, value, ...] list, as Node's `rawHeaders` and undici's
 * dispatch take them: no node:http type is needed.
 */

export type TraceFormat = "w3c" | "b3-single" | "b3-multi";

/** A parent context taken from a request. */
export interface TraceContext {
  /** 32 lower-case hex digits, not all zeros (a 64-bit B3 id is left-padded with zeros). */
  readonly traceId: string;
  /** 16 lower-case hex digits, not all zeros: the caller's span, the parent of ours. */
  readonly spanId: string;
  readonly sampled: boolean;
  /** W3C tracestate, already validated; "" when none. */
  readonly tracestate: string;
  readonly format: TraceFormat;
}

/** What a request said about sampling when it carried no usable ids (`b3: 0`, `x-b3-sampled: 1` alone). */
export type SamplingHint = boolean | undefined;

/** Longest header value looked at: a longer traceparent, tracestate or b3 is refused unread. */
export const MAX_TRACE_HEADER = 512;
const MAX_TRACESTATE_MEMBERS = 32;

const TRACE_HEADERS = new Set([
  "traceparent",
  "tracestate",
  "b3",
  "x-b3-traceid",
  "x-b3-spanid",
  "x-b3-parentspanid",
  "x-b3-sampled",
  "x-b3-flags",
]);

/** True for a header name (any case) this module reads and rewrites. */
export function isTraceHeader(name: string): boolean {
  return TRACE_HEADERS.has(name.toLowerCase());
}

function isLowerHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

function isAllZeros(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) !== 48) return false;
  return true;
}

/** A W3C trace id or span id: `len` lower-case hex digits, not all zeros. */
function isId(s: string, from: number, len: number): boolean {
  return from + len <= s.length && isLowerHex(s, from, from + len) && !isAllZeros(s, from, from + len);
}

export interface ParsedTraceparent {
  readonly traceId: string;
  readonly spanId: string;
  readonly sampled: boolean;
}

/**
 * `version-traceid-parentid-flags` (W3C Trace Context §3.2). Version 00 is
 * exactly 55 characters; a later version may be longer, with a `-` after the
 * flags, and is read as 00 (§4.3); version ff is invalid.
 */
export function parseTraceparent(v: string): ParsedTraceparent | undefined {
  if (v.length < 55 || v.length > MAX_TRACE_HEADER) return undefined;
  if (!isLowerHex(v, 0, 2)) return undefined;
  const version = v.slice(0, 2);
  if (version === "ff") return undefined;
  if (version === "00" ? v.length !== 55 : v.length > 55 && v.charCodeAt(55) !== 45) return undefined;
  if (v.charCodeAt(2) !== 45 || v.charCodeAt(35) !== 45 || v.charCodeAt(52) !== 45) return undefined;
  if (!isId(v, 3, 32) || !isId(v, 36, 16) || !isLowerHex(v, 53, 55)) return undefined;
  const flags = Number.parseInt(v.slice(53, 55), 16);
  return { traceId: v.slice(3, 35), spanId: v.slice(36, 52), sampled: (flags & 1) === 1 };
}

/** tracestate list members: `key=value` (W3C Trace Context §3.3.1), the key simple or `tenant@system`. */
const TRACESTATE_MEMBER =
  /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/**
 * The tracestate to pass on, or "" when it is invalid (the spec: a bad
 * tracestate is dropped, the traceparent still holds). Bounded to 512
 * characters and 32 members; empty members (`a=1,,b=2`) are allowed.
 */
export function parseTracestate(v: string): string {
  if (v.length === 0 || v.length > MAX_TRACE_HEADER) return "";
  const members = v.split(",");
  if (members.length > MAX_TRACESTATE_MEMBERS) return "";
  const out: string[] = [];
  const keys = new Set<string>();
  for (const m of members) {
    const t = m.trim();
    if (t === "") continue;
    if (!TRACESTATE_MEMBER.test(t)) return "";
    const key = t.slice(0, t.indexOf("="));
    if (keys.has(key)) return "";
    keys.add(key);
    out.push(t);
  }
  return out.join(",");
}

/** A B3 trace id: 16 or 32 lower-case hex digits, not all zeros; returned as 32. */
function b3TraceId(v: string): string | undefined {
  if (v.length === 32 && isId(v, 0, 32)) return v;
  if (v.length === 16 && isId(v, 0, 16)) return `0000000000000000${v}`;
  return undefined;
}

function b3SpanId(v: string): string | undefined {
  return v.length === 16 && isId(v, 0, 16) ? v : undefined;
}

/** B3 sampling state: 1 or d (debug) sample, 0 does not; anything else is invalid. */
function b3Sampling(v: string): SamplingHint | null {
  if (v === "1" || v === "d") return true;
  if (v === "0") return false;
  return null;
}

export type B3Single =
  | { readonly kind: "context"; readonly traceId: string; readonly spanId: string; readonly sampled: SamplingHint }
  | { readonly kind: "sampling"; readonly sampled: boolean };

/**
 * `b3: {traceid}-{spanid}[-{sampling}[-{parentspanid}]]`, or a lone sampling
 * state (`b3: 0`). The parent span id is checked and not kept: our parent is
 * the caller's span id.
 */
export function parseB3Single(v: string): B3Single | undefined {
  if (v.length === 0 || v.length > MAX_TRACE_HEADER) return undefined;
  const parts = v.split("-");
  if (parts.length === 1) {
    const s = b3Sampling(v);
    return s === null || s === undefined ? undefined : { kind: "sampling", sampled: s };
  }
  if (parts.length > 4) return undefined;
  const traceId = b3TraceId(parts[0] as string);
  const spanId = b3SpanId(parts[1] as string);
  if (traceId === undefined || spanId === undefined) return undefined;
  let sampled: SamplingHint;
  if (parts.length >= 3) {
    const s = b3Sampling(parts[2] as string);
    if (s === null) return undefined;
    sampled = s;
  }
  if (parts.length === 4 && b3SpanId(parts[3] as string) === undefined) return undefined;
  return { kind: "context", traceId, spanId, sampled };
}

export interface B3MultiHeaders {
  traceId?: string | undefined;
  spanId?: string | undefined;
  parentSpanId?: string | undefined;
  sampled?: string | undefined;
  flags?: string | undefined;
}

/** `x-b3-*` headers. `x-b3-sampled` also takes the legacy `true`/`false`; `x-b3-flags: 1` is debug (sampled). */
export function parseB3Multi(h: B3MultiHeaders): B3Single | undefined {
  let sampled: SamplingHint;
  if (h.flags === "1") sampled = true;
  else if (h.flags !== undefined && h.flags !== "0") return undefined;
  if (sampled === undefined && h.sampled !== undefined) {
    const s = h.sampled === "true" ? true : h.sampled === "false" ? false : b3Sampling(h.sampled);
    if (s === null || h.sampled === "d") return undefined;
    sampled = s;
  }
  if (h.traceId === undefined && h.spanId === undefined) {
    return sampled === undefined ? undefined : { kind: "sampling", sampled };
  }
  const traceId = h.traceId === undefined ? undefined : b3TraceId(h.traceId);
  const spanId = h.spanId === undefined ? undefined : b3SpanId(h.spanId);
  if (traceId === undefined || spanId === undefined) return undefined;
  if (h.parentSpanId !== undefined && b3SpanId(h.parentSpanId) === undefined) return undefined;
  return { kind: "context", traceId, spanId, sampled };
}

/** What a request's headers say: a parent context, or at most a sampling hint. */
export interface Extracted {
  readonly parent: TraceContext | undefined;
  readonly sampling: SamplingHint;
  /** A trace header was present (valid or not): the outgoing request must have them rewritten. */
  readonly present: boolean;
}

const NOTHING: Extracted = { parent: undefined, sampling: undefined, present: false };

/**
 * The parent context of a request, from its raw header list. W3C wins over
 * B3 single, which wins over B3 multi. A header given twice (two
 * traceparents, two b3) is ambiguous and ignored, as the W3C spec asks;
 * several tracestate headers are one list.
 */
export function extractTraceContext(raw: readonly string[]): Extracted {
  let traceparent: string | undefined;
  let tracestate: string | undefined;
  let b3: string | undefined;
  let multi: B3MultiHeaders | undefined;
  let present = false;
  let duplicated = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const c = name.charCodeAt(0) | 0x20;
    // Most headers start with neither t, b nor x: one comparison, no lower-casing.
    if (c !== 116 && c !== 98 && c !== 120) continue;
    const lower = name.toLowerCase();
    if (!TRACE_HEADERS.has(lower)) continue;
    present = true;
    const value = raw[i + 1] as string;
    switch (lower) {
      case "traceparent":
        duplicated ||= traceparent !== undefined;
        traceparent = value;
        break;
      case "tracestate":
        tracestate = tracestate === undefined ? value : `${tracestate},${value}`;
        break;
      case "b3":
        if (b3 !== undefined) b3 = "";
        else b3 = value;
        break;
      default: {
        multi ??= {};
        const key = B3_FIELD[lower] as keyof B3MultiHeaders;
        // A repeated x-b3 header is ambiguous: the whole B3 set is refused.
        multi[key] = multi[key] === undefined ? value : "";
      }
    }
  }
  if (!present) return NOTHING;
  if (traceparent !== undefined && !duplicated) {
    const p = parseTraceparent(traceparent);
    if (p !== undefined) {
      const state = tracestate === undefined ? "" : parseTracestate(tracestate);
      return { parent: { ...p, tracestate: state, format: "w3c" }, sampling: p.sampled, present };
    }
  }
  const b = b3 !== undefined ? parseB3Single(b3) : multi !== undefined ? parseB3Multi(multi) : undefined;
  if (b === undefined) return { parent: undefined, sampling: undefined, present };
  if (b.kind === "sampling") return { parent: undefined, sampling: b.sampled, present };
  return {
    parent: {
      traceId: b.traceId,
      spanId: b.spanId,
      sampled: b.sampled ?? false,
      tracestate: "",
      format: b3 !== undefined ? "b3-single" : "b3-multi",
    },
    sampling: b.sampled,
    present,
  };
}

const B3_FIELD: Record<string, keyof B3MultiHeaders> = {
  "x-b3-traceid": "traceId",
  "x-b3-spanid": "spanId",
  "x-b3-parentspanid": "parentSpanId",
  "x-b3-sampled": "sampled",
  "x-b3-flags": "flags",
};

/** The context a request leaves the sidecar with: our span is the parent of the next hop. */
export interface OutgoingContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly sampled: boolean;
  readonly tracestate: string;
  /** The format the request came in with, also written out (W3C is always written). */
  readonly format: TraceFormat | undefined;
}

/**
 * Replaces the trace headers of a flat header list (in place): every incoming
 * one is removed, then `traceparent` (and `tracestate` when there is one) is
 * added, and B3 in the form the caller used, so a B3-only app keeps its trace.
 */
export function injectTraceContext(headers: string[], out: OutgoingContext): void {
  removeTraceHeaders(headers);
  const flags = out.sampled ? "01" : "00";
  headers.push("traceparent", `00-${out.traceId}-${out.spanId}-${flags}`);
  if (out.tracestate !== "") headers.push("tracestate", out.tracestate);
  if (out.format === "b3-single") headers.push("b3", `${out.traceId}-${out.spanId}-${out.sampled ? "1" : "0"}`);
  else if (out.format === "b3-multi")
    headers.push("x-b3-traceid", out.traceId, "x-b3-spanid", out.spanId, "x-b3-sampled", out.sampled ? "1" : "0");
}

/** Drops every trace header from a flat list, in place, keeping the order of the others. */
export function removeTraceHeaders(headers: string[]): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    if (isTraceHeader(headers[r] as string)) continue;
    headers[w] = headers[r] as string;
    headers[w + 1] = headers[r + 1] as string;
    w += 2;
  }
  headers.length = w;
}

/**
 * Strict HTTP/1.1 message heads (RFC 9112 §2-§6, §11): the start line and
 * the field lines, parsed from the bytes as received. Anything a lenient
 * parser would guess at (obs-fold, bare CR or LF, a space before the colon,
 * control bytes, conflicting framing) is refused with the status a server
 * answers and the connection closed: a proxy that guesses differently from
 * its upstream is how request smuggling works.
 */

/** Limits of one head; every one is a refusal, never a truncation. */
export interface HeadLimits {
  /** The request line (method, target, version): longer gives 414. */
  readonly maxStartLine: number;
  /** The whole head: larger gives 431. */
  readonly maxHeadBytes: number;
  /** Field lines: more gives 431. */
  readonly maxFields: number;
}

export const DEFAULT_HEAD_LIMITS: HeadLimits = { maxStartLine: 8 * 1024, maxHeadBytes: 64 * 1024, maxFields: 100 };

/** A message the engine refuses: the status to answer (requests) and why. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** How the body of a message is delimited (RFC 9112 §6.3). */
export type Framing = "none" | "length" | "chunked" | "close";

/** A parsed head. Field names are lower-cased once; `rawNames` keeps the sender's case for forwarding. */
export interface Head {
  /** Requests: the method; responses: "". */
  readonly method: string;
  /** Requests: the request target as sent; responses: "". */
  readonly target: string;
  /** Responses: the status code; requests: 0. */
  readonly status: number;
  readonly reason: string;
  /** HTTP/1.<minor>. */
  readonly minor: number;
  readonly names: string[];
  readonly rawNames: string[];
  readonly values: string[];
  readonly framing: Framing;
  /** With framing "length". */
  readonly contentLength: number;
  /** The Connection field's tokens, lower-cased ("close", "keep-alive", "upgrade", names of hop-by-hop fields). */
  readonly connection: readonly string[];
  /** The sender wants the connection closed after this message (Connection: close, or HTTP/1.0 without keep-alive). */
  readonly close: boolean;
  /** Bytes the head took, CRLFs included. */
  readonly bytes: number;
}

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;

/** RFC 9110 §5.6.2 tchar. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

/** Field value bytes (RFC 9110 §5.5): HTAB, SP, VCHAR, obs-text. No other control byte. */
const VALUE = new Uint8Array(256);
VALUE[HT] = 1;
for (let c = 32; c <= 126; c++) VALUE[c] = 1;
for (let c = 128; c <= 255; c++) VALUE[c] = 1;

/** Request-target bytes: visible ASCII only (no space, no control, no obs-text). */
const TARGET = new Uint8Array(256);
for (let c = 33; c <= 126; c++) TARGET[c] = 1;

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (TCHAR[s.charCodeAt(i)] !== 1) return false;
  return true;
}

/**
 * Where the head in `buf` ends (the index after its empty line), -1 when
 * more bytes are needed. `from` lets a caller that appends resume the scan.
 */
export function headEnd(buf: Buffer, from: number): number {
  let i = buf.indexOf(LF, from);
  while (i >= 0) {
    // An empty line: CRLF CRLF, or a line that starts with LF (a bare LF, which the line check refuses).
    if (i >= 3 && buf[i - 1] === CR && buf[i - 2] === LF && buf[i - 3] === CR) return i + 1;
    if (i >= 1 && buf[i - 1] === LF) return i + 1;
    i = buf.indexOf(LF, i + 1);
  }
  return -1;
}

/** Splits the head's bytes into lines, refusing bare CR, bare LF and NUL anywhere. */
function lines(buf: Buffer, start: number, end: number): string[] {
  const out: string[] = [];
  let lineStart = start;
  for (let i = start; i < end; i++) {
    const c = buf[i] as number;
    if (c === LF) {
      if (i === start || buf[i - 1] !== CR) throw new HttpError(400, "ERR_BARE_LF", "bare LF in head");
      out.push(buf.toString("latin1", lineStart, i - 1));
      lineStart = i + 1;
    } else if (c === CR) {
      if (buf[i + 1] !== LF) throw new HttpError(400, "ERR_BARE_CR", "bare CR in head");
    } else if (c === 0) {
      throw new HttpError(400, "ERR_NUL", "NUL in head");
    }
  }
  return out;
}

interface Fields {
  names: string[];
  rawNames: string[];
  values: string[];
}

function parseFields(all: string[], from: number, limits: HeadLimits): Fields {
  const names: string[] = [];
  const rawNames: string[] = [];
  const values: string[] = [];
  // The last line is the empty one that ends the head.
  for (let i = from; i < all.length - 1; i++) {
    const line = all[i] as string;
    const first = line.charCodeAt(0);
    if (first === SP || first === HT) throw new HttpError(400, "ERR_OBS_FOLD", "obs-fold (line folding) in a field");
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HttpError(400, "ERR_FIELD", "field line without a name and colon");
    const raw = line.slice(0, colon);
    if (!isToken(raw)) {
      const last = raw.charCodeAt(raw.length - 1);
      throw new HttpError(
        400,
        last === SP || last === HT ? "ERR_SPACE_BEFORE_COLON" : "ERR_FIELD_NAME",
        last === SP || last === HT ? "whitespace between field name and colon" : "invalid field name",
      );
    }
    let s = colon + 1;
    let e = line.length;
    while (s < e && (line.charCodeAt(s) === SP || line.charCodeAt(s) === HT)) s++;
    while (e > s && (line.charCodeAt(e - 1) === SP || line.charCodeAt(e - 1) === HT)) e--;
    for (let k = s; k < e; k++) {
      if (VALUE[line.charCodeAt(k)] !== 1) throw new HttpError(400, "ERR_FIELD_VALUE", "control byte in a field value");
    }
    if (names.length === limits.maxFields) throw new HttpError(431, "ERR_TOO_MANY_FIELDS", "too many header fields");
    rawNames.push(raw);
    names.push(raw.toLowerCase());
    values.push(line.slice(s, e));
  }
  return { names, rawNames, values };
}

/** The comma-separated list elements of every field named `name`, lower-cased and trimmed, empty ones dropped. */
export function listOf(names: readonly string[], values: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < names.length; i++) {
    if (names[i] !== name) continue;
    for (const part of (values[i] as string).split(",")) {
      const t = part.trim().toLowerCase();
      if (t !== "") out.push(t);
    }
  }
  return out;
}

/** The one value of a field that must occur once; undefined when absent. */
export function single(names: readonly string[], values: readonly string[], name: string): string | undefined {
  const i = names.indexOf(name);
  return i < 0 ? undefined : values[i];
}

const MAX_LENGTH_DIGITS = 15;

/** Content-Length: every occurrence (fields and list members) must be the same decimal number (RFC 9110 §8.6). */
function contentLengthOf(f: Fields): number | undefined {
  let length: number | undefined;
  for (let i = 0; i < f.names.length; i++) {
    if (f.names[i] !== "content-length") continue;
    for (const part of (f.values[i] as string).split(",")) {
      const t = part.trim();
      if (t.length === 0 || t.length > MAX_LENGTH_DIGITS || !/^[0-9]+$/.test(t))
        throw new HttpError(400, "ERR_CONTENT_LENGTH", "invalid Content-Length");
      const n = Number(t);
      if (length !== undefined && n !== length)
        throw new HttpError(400, "ERR_CONTENT_LENGTH", "conflicting Content-Length values");
      length = n;
    }
  }
  return length;
}

interface FramingOf {
  framing: Framing;
  contentLength: number;
}

/**
 * RFC 9112 §6.1-§6.3 for requests: chunked must be the final (and only)
 * coding; with Content-Length as well the message is refused, not guessed.
 */
function requestFraming(f: Fields, minor: number): FramingOf {
  const te = listOf(f.names, f.values, "transfer-encoding");
  const hasTe = f.names.includes("transfer-encoding");
  const length = contentLengthOf(f);
  if (hasTe) {
    if (minor === 0) throw new HttpError(400, "ERR_TE_HTTP10", "Transfer-Encoding in an HTTP/1.0 request");
    if (length !== undefined) throw new HttpError(400, "ERR_CL_AND_TE", "both Content-Length and Transfer-Encoding");
    const chunked = te.filter((t) => t === "chunked").length;
    if (te.length === 0 || te[te.length - 1] !== "chunked" || chunked > 1)
      throw new HttpError(400, "ERR_TE_NOT_CHUNKED", "Transfer-Encoding does not end in a single chunked");
    if (te.length > 1) throw new HttpError(501, "ERR_TE_CODING", "transfer codings other than chunked");
    return { framing: "chunked", contentLength: 0 };
  }
  if (length === undefined || length === 0) return { framing: "none", contentLength: 0 };
  return { framing: "length", contentLength: length };
}

/** RFC 9112 §6.3 for responses: `bodiless` covers HEAD requests, 1xx, 204 and 304. */
function responseFraming(f: Fields, bodiless: boolean): FramingOf {
  if (bodiless) return { framing: "none", contentLength: 0 };
  const te = listOf(f.names, f.values, "transfer-encoding");
  const length = contentLengthOf(f);
  if (f.names.includes("transfer-encoding")) {
    if (length !== undefined) throw new HttpError(502, "ERR_CL_AND_TE", "both Content-Length and Transfer-Encoding");
    if (te.length === 1 && te[0] === "chunked") return { framing: "chunked", contentLength: 0 };
    // Any other coding: the body runs to the connection's end (RFC 9112 §6.3 point 4); codings this proxy
    // cannot pass through as HTTP/1.1 framing are the upstream's error.
    throw new HttpError(502, "ERR_TE_CODING", "response transfer coding other than chunked");
  }
  if (length === undefined) return { framing: "close", contentLength: 0 };
  if (length === 0) return { framing: "none", contentLength: 0 };
  return { framing: "length", contentLength: length };
}

function connectionOf(f: Fields, minor: number): { connection: string[]; close: boolean } {
  const connection = listOf(f.names, f.values, "connection");
  const close = connection.includes("close") || (minor === 0 && !connection.includes("keep-alive"));
  return { connection, close };
}

/** The version in a start line: 1.0 and 1.1 are served, any other HTTP version is 505, anything else 400. */
function minorOf(v: string): number {
  if (v === "HTTP/1.1") return 1;
  if (v === "HTTP/1.0") return 0;
  if (/^HTTP\/[0-9]\.[0-9]$/.test(v)) throw new HttpError(505, "ERR_VERSION", "HTTP version not supported");
  throw new HttpError(400, "ERR_START_LINE", "invalid HTTP version");
}

/**
 * Parses a request head from `buf[start, end)`, `end` as given by headEnd.
 * Empty lines before the request line (RFC 9112 §2.2) are skipped.
 */
export function parseRequestHead(buf: Buffer, start: number, end: number, limits: HeadLimits): Head {
  let s = start;
  while (buf[s] === CR && buf[s + 1] === LF) s += 2;
  const all = lines(buf, s, end);
  const line = all[0] ?? "";
  if (line.length > limits.maxStartLine) throw new HttpError(414, "ERR_URI_TOO_LONG", "request line too long");
  const sp1 = line.indexOf(" ");
  const sp2 = line.indexOf(" ", sp1 + 1);
  if (sp1 <= 0 || sp2 <= sp1 + 1 || line.indexOf(" ", sp2 + 1) >= 0)
    throw new HttpError(400, "ERR_START_LINE", "invalid request line");
  const method = line.slice(0, sp1);
  if (!isToken(method)) throw new HttpError(400, "ERR_METHOD", "invalid method");
  const target = line.slice(sp1 + 1, sp2);
  for (let i = 0; i < target.length; i++) {
    if (TARGET[target.charCodeAt(i)] !== 1) throw new HttpError(400, "ERR_TARGET", "invalid byte in request target");
  }
  const minor = minorOf(line.slice(sp2 + 1));
  const f = parseFields(all, 1, limits);
  const { framing, contentLength } = requestFraming(f, minor);
  return {
    method,
    target,
    status: 0,
    reason: "",
    minor,
    ...f,
    framing,
    contentLength,
    ...connectionOf(f, minor),
    bytes: end - start,
  };
}

/** Parses a response head; `headRequest` makes its body empty whatever it declares. */
export function parseResponseHead(
  buf: Buffer,
  start: number,
  end: number,
  limits: HeadLimits,
  headRequest: boolean,
): Head {
  const all = lines(buf, start, end);
  const line = all[0] ?? "";
  if (line.length > limits.maxStartLine) throw new HttpError(502, "ERR_STATUS_LINE", "status line too long");
  const sp1 = line.indexOf(" ");
  const code = line.slice(sp1 + 1, sp1 + 4);
  if (sp1 < 0 || !/^[1-9][0-9][0-9]$/.test(code) || (line.length > sp1 + 4 && line.charCodeAt(sp1 + 4) !== SP))
    throw new HttpError(502, "ERR_STATUS_LINE", "invalid status line");
  let minor: number;
  try {
    minor = minorOf(line.slice(0, sp1));
  } catch {
    throw new HttpError(502, "ERR_STATUS_LINE", "invalid status line version");
  }
  const status = Number(code);
  let f: Fields;
  try {
    f = parseFields(all, 1, limits);
  } catch (err) {
    throw new HttpError(502, (err as HttpError).code, (err as HttpError).message);
  }
  const bodiless = headRequest || status < 200 || status === 204 || status === 304;
  const { framing, contentLength } = responseFraming(f, bodiless);
  return {
    method: "",
    target: "",
    status,
    reason: line.slice(sp1 + 5),
    minor,
    ...f,
    framing,
    contentLength,
    ...connectionOf(f, minor),
    bytes: end - start,
  };
}

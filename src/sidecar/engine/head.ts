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
const COLON = 58;

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

/**
 * Where each line of the head ends (the index of its CR), reused from head to head: lines are bounds in
 * the Buffer, never strings of their own. Grown on demand; a head is parsed whole before the next one.
 */
let lineEnds = new Int32Array(128);

/**
 * Finds the head's lines in `buf[start, end)`, refusing bare CR, bare LF and NUL anywhere (the whole head
 * is checked before any line is read, so the first such byte decides the refusal). Returns the line count;
 * line k runs from `k === 0 ? start : lineEnds[k - 1] + 2` to `lineEnds[k]`.
 */
function lines(buf: Buffer, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i] as number;
    if (c === LF) {
      if (i === start || buf[i - 1] !== CR) throw new HttpError(400, "ERR_BARE_LF", "bare LF in head");
      if (n === lineEnds.length) {
        const grown = new Int32Array(n * 2);
        grown.set(lineEnds);
        lineEnds = grown;
      }
      lineEnds[n++] = i - 1;
    } else if (c === CR) {
      if (buf[i + 1] !== LF) throw new HttpError(400, "ERR_BARE_CR", "bare CR in head");
    } else if (c === 0) {
      throw new HttpError(400, "ERR_NUL", "NUL in head");
    }
  }
  return n;
}

interface Fields {
  names: string[];
  rawNames: string[];
  values: string[];
}

/** The field lines 1 .. n-2 (the last line is the empty one that ends the head), checked byte by byte. */
function parseFields(buf: Buffer, n: number, limits: HeadLimits): Fields {
  const names: string[] = [];
  const rawNames: string[] = [];
  const values: string[] = [];
  for (let k = 1; k < n - 1; k++) {
    const ls = (lineEnds[k - 1] as number) + 2;
    const le = lineEnds[k] as number;
    const first = buf[ls];
    if (first === SP || first === HT) throw new HttpError(400, "ERR_OBS_FOLD", "obs-fold (line folding) in a field");
    let colon = ls;
    while (colon < le && buf[colon] !== COLON) colon++;
    if (colon === le || colon === ls) throw new HttpError(400, "ERR_FIELD", "field line without a name and colon");
    let upper = false;
    for (let i = ls; i < colon; i++) {
      const c = buf[i] as number;
      if (TCHAR[c] !== 1) {
        const last = buf[colon - 1];
        throw new HttpError(
          400,
          last === SP || last === HT ? "ERR_SPACE_BEFORE_COLON" : "ERR_FIELD_NAME",
          last === SP || last === HT ? "whitespace between field name and colon" : "invalid field name",
        );
      }
      if (c >= 65 && c <= 90) upper = true;
    }
    let vs = colon + 1;
    let ve = le;
    while (vs < ve && (buf[vs] === SP || buf[vs] === HT)) vs++;
    while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HT)) ve--;
    for (let i = vs; i < ve; i++) {
      if (VALUE[buf[i] as number] !== 1) throw new HttpError(400, "ERR_FIELD_VALUE", "control byte in a field value");
    }
    if (names.length === limits.maxFields) throw new HttpError(431, "ERR_TOO_MANY_FIELDS", "too many header fields");
    const raw = buf.toString("latin1", ls, colon);
    rawNames.push(raw);
    // Most senders write names in lower case already: no second string for those.
    names.push(upper ? raw.toLowerCase() : raw);
    values.push(vs === ve ? "" : buf.toString("latin1", vs, ve));
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

function isDigits(t: string): boolean {
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Content-Length: every occurrence (fields and list members) must be the same decimal number (RFC 9110 §8.6). */
function contentLengthOf(f: Fields): number | undefined {
  let length: number | undefined;
  for (let i = 0; i < f.names.length; i++) {
    if (f.names[i] !== "content-length") continue;
    const v = f.values[i] as string;
    // The usual case, one plain number: no list to split.
    const parts = v.length > 0 && v.length <= MAX_LENGTH_DIGITS && isDigits(v) ? [v] : v.split(",");
    for (const part of parts) {
      const t = part.trim();
      if (t.length === 0 || t.length > MAX_LENGTH_DIGITS || !isDigits(t))
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

/** The version in a start line: 1.0 and 1.1 are served, any other HTTP version is 505, anything else 400. */
function minorOf(v: string): number {
  if (v === "HTTP/1.1") return 1;
  if (v === "HTTP/1.0") return 0;
  if (/^HTTP\/[0-9]\.[0-9]$/.test(v)) throw new HttpError(505, "ERR_VERSION", "HTTP version not supported");
  throw new HttpError(400, "ERR_START_LINE", "invalid HTTP version");
}

/** HTTP/1.<minor> from the bytes of a start line's version; -1: anything else (minorOf then says which error). */
function minorAt(buf: Buffer, from: number, to: number): number {
  if (
    to - from !== 8 ||
    buf[from] !== 72 ||
    buf[from + 1] !== 84 ||
    buf[from + 2] !== 84 ||
    buf[from + 3] !== 80 ||
    buf[from + 4] !== 47 ||
    buf[from + 5] !== 49 ||
    buf[from + 6] !== 46
  )
    return -1;
  const m = buf[from + 7];
  return m === 49 ? 1 : m === 48 ? 0 : -1;
}

/** The method's string: the common ones without a new string each time. */
function methodAt(buf: Buffer, from: number, to: number): string {
  const n = to - from;
  if (n === 3 && buf[from] === 71 && buf[from + 1] === 69 && buf[from + 2] === 84) return "GET";
  if (n === 4 && buf[from] === 80 && buf[from + 1] === 79 && buf[from + 2] === 83 && buf[from + 3] === 84)
    return "POST";
  return buf.toString("latin1", from, to);
}

function head(
  method: string,
  target: string,
  status: number,
  reason: string,
  minor: number,
  f: Fields,
  framing: FramingOf,
  bytes: number,
): Head {
  const connection = listOf(f.names, f.values, "connection");
  const close = connection.includes("close") || (minor === 0 && !connection.includes("keep-alive"));
  return {
    method,
    target,
    status,
    reason,
    minor,
    names: f.names,
    rawNames: f.rawNames,
    values: f.values,
    framing: framing.framing,
    contentLength: framing.contentLength,
    connection,
    close,
    bytes,
  };
}

/**
 * Parses a request head from `buf[start, end)`, `end` as given by headEnd.
 * Empty lines before the request line (RFC 9112 §2.2) are skipped.
 */
export function parseRequestHead(buf: Buffer, start: number, end: number, limits: HeadLimits): Head {
  let s = start;
  while (buf[s] === CR && buf[s + 1] === LF) s += 2;
  const n = lines(buf, s, end);
  const le = n === 0 ? s : (lineEnds[0] as number);
  if (le - s > limits.maxStartLine) throw new HttpError(414, "ERR_URI_TOO_LONG", "request line too long");
  let sp1 = s;
  while (sp1 < le && buf[sp1] !== SP) sp1++;
  let sp2 = sp1 + 1;
  while (sp2 < le && buf[sp2] !== SP) sp2++;
  let sp3 = sp2 + 1;
  while (sp3 < le && buf[sp3] !== SP) sp3++;
  if (sp1 >= le || sp1 === s || sp2 >= le || sp2 === sp1 + 1 || sp3 < le)
    throw new HttpError(400, "ERR_START_LINE", "invalid request line");
  for (let i = s; i < sp1; i++) {
    if (TCHAR[buf[i] as number] !== 1) throw new HttpError(400, "ERR_METHOD", "invalid method");
  }
  for (let i = sp1 + 1; i < sp2; i++) {
    if (TARGET[buf[i] as number] !== 1) throw new HttpError(400, "ERR_TARGET", "invalid byte in request target");
  }
  let minor = minorAt(buf, sp2 + 1, le);
  if (minor < 0) minor = minorOf(buf.toString("latin1", sp2 + 1, le));
  const method = methodAt(buf, s, sp1);
  const target = buf.toString("latin1", sp1 + 1, sp2);
  const f = parseFields(buf, n, limits);
  return head(method, target, 0, "", minor, f, requestFraming(f, minor), end - start);
}

/** Parses a response head; `headRequest` makes its body empty whatever it declares. */
export function parseResponseHead(
  buf: Buffer,
  start: number,
  end: number,
  limits: HeadLimits,
  headRequest: boolean,
): Head {
  const n = lines(buf, start, end);
  const le = n === 0 ? start : (lineEnds[0] as number);
  if (le - start > limits.maxStartLine) throw new HttpError(502, "ERR_STATUS_LINE", "status line too long");
  let sp1 = start;
  while (sp1 < le && buf[sp1] !== SP) sp1++;
  const d0 = buf[sp1 + 1] as number;
  const d1 = buf[sp1 + 2] as number;
  const d2 = buf[sp1 + 3] as number;
  if (
    sp1 >= le ||
    sp1 + 4 > le ||
    d0 < 49 ||
    d0 > 57 ||
    d1 < 48 ||
    d1 > 57 ||
    d2 < 48 ||
    d2 > 57 ||
    (le > sp1 + 4 && buf[sp1 + 4] !== SP)
  )
    throw new HttpError(502, "ERR_STATUS_LINE", "invalid status line");
  let minor = minorAt(buf, start, sp1);
  if (minor < 0) {
    try {
      minor = minorOf(buf.toString("latin1", start, sp1));
    } catch {
      throw new HttpError(502, "ERR_STATUS_LINE", "invalid status line version");
    }
  }
  const status = (d0 - 48) * 100 + (d1 - 48) * 10 + (d2 - 48);
  let f: Fields;
  try {
    f = parseFields(buf, n, limits);
  } catch (err) {
    throw new HttpError(502, (err as HttpError).code, (err as HttpError).message);
  }
  const bodiless = headRequest || status < 200 || status === 204 || status === 304;
  const reason = sp1 + 5 < le ? buf.toString("latin1", sp1 + 5, le) : "";
  return head("", "", status, reason, minor, f, responseFraming(f, bodiless), end - start);
}

import { isUtf8 } from "node:buffer";

/**
 * Whether bytes are exactly one value in DER (X.690 §10–11), checked on the
 * raw encoding because that is where DER differs from BER: the ASN.1
 * libraries read BER leniently and re-emit what they kept raw (attribute
 * values, extension values) as it came, so a re-encoding comparison alone
 * cannot see inside those. Structure is checked here without a schema;
 * what a value means is left to @peculiar/x509.
 */

/** Deeper than any certificate request or extension we read; bounds the recursion. */
const MAX_DEPTH = 32;
/** Four length bytes already exceed the 16 KiB a CSR may have. */
const MAX_LENGTH_BYTES = 4;

const UNIVERSAL = {
  boolean: 1,
  integer: 2,
  bitString: 3,
  octetString: 4,
  null: 5,
  oid: 6,
  enumerated: 10,
  utf8String: 12,
  sequence: 16,
  set: 17,
  numericString: 18,
  printableString: 19,
  teletexString: 20,
  ia5String: 22,
  utcTime: 23,
  generalizedTime: 24,
  visibleString: 26,
  universalString: 28,
  bmpString: 30,
} as const;
const KNOWN_UNIVERSAL = new Set<number>(Object.values(UNIVERSAL));

const DIGITS = charset("0123456789");
const NUMERIC = charset("0123456789 ");
const PRINTABLE = charset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?");
const ASCII = charset(String.fromCharCode(...Array.from({ length: 128 }, (_, i) => i)));

class NotDer extends Error {}

function fail(at: number, why: string): never {
  throw new NotDer(`${why} (byte ${at})`);
}

/** Why `bytes` is not exactly one DER value, or undefined when it is. */
export function derProblem(bytes: Uint8Array): string | undefined {
  try {
    const end = element(bytes, 0, bytes.length, 0);
    return end === bytes.length ? undefined : `${bytes.length - end} bytes after the value (byte ${end})`;
  } catch (err) {
    if (err instanceof NotDer) return err.message;
    throw err;
  }
}

/** Checks the element at `at`, which must end by `end`; returns the offset after it. */
function element(b: Uint8Array, at: number, end: number, depth: number): number {
  if (depth > MAX_DEPTH) fail(at, `nested deeper than ${MAX_DEPTH}`);
  const id = byteAt(b, at, end);
  const tagClass = id >> 6;
  const constructed = (id & 0x20) !== 0;
  let p = at + 1;
  let tag = id & 0x1f;
  if (tag === 0x1f) {
    // X.690 §8.1.2.4: base 128 with no leading zero group, and only for numbers from 31 up.
    if (byteAt(b, p, end) === 0x80) fail(at, "tag number with a leading zero group");
    tag = 0;
    for (let more = true; more; p++) {
      const c = byteAt(b, p, end);
      tag = tag * 128 + (c & 0x7f);
      if (tag > 0x1fffff) fail(at, "tag number too large");
      more = (c & 0x80) !== 0;
    }
    if (tag < 31) fail(at, `tag number ${tag} in the long form`);
  }
  const first = byteAt(b, p++, end);
  let length = first;
  if (first === 0x80) fail(at, "indefinite length (BER)");
  if (first > 0x80) {
    const count = first & 0x7f;
    if (count > MAX_LENGTH_BYTES) fail(at, `length in ${count} bytes`);
    if (byteAt(b, p, end) === 0) fail(at, "length with a leading zero byte");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + byteAt(b, p++, end);
    if (length < 0x80) fail(at, `length ${length} in the long form`);
  }
  const contentEnd = p + length;
  if (contentEnd > end) fail(at, "length runs past the enclosing value");
  if (tagClass === 0) universal(at, tag, constructed, b, p, contentEnd);
  if (constructed) children(b, p, contentEnd, depth, tagClass === 0 && tag === UNIVERSAL.set);
  return contentEnd;
}

function byteAt(b: Uint8Array, at: number, end: number): number {
  if (at >= end) fail(at, "truncated");
  return b[at] as number;
}

/** X.690 §11.6: a SET OF's elements in ascending order of their encodings (equal ones allowed). */
function children(b: Uint8Array, from: number, end: number, depth: number, sorted: boolean): void {
  let previous: Buffer | undefined;
  for (let at = from; at < end; ) {
    const next = element(b, at, end, depth + 1);
    if (sorted) {
      const current = Buffer.from(b.buffer, b.byteOffset + at, next - at);
      if (previous !== undefined && Buffer.compare(previous, current) > 0) fail(at, "SET OF elements out of order");
      previous = current;
    }
    at = next;
  }
}

/** The form and content rules DER adds for the universal types X.509 uses, on content b[s, e). */
function universal(at: number, tag: number, constructed: boolean, b: Uint8Array, s: number, e: number): void {
  if (!KNOWN_UNIVERSAL.has(tag)) fail(at, `universal tag ${tag} is not used here`);
  const mustConstruct = tag === UNIVERSAL.sequence || tag === UNIVERSAL.set;
  // §10.2: definite lengths only, and §8.7/§10.2 strings never in the constructed (segmented) form.
  if (constructed !== mustConstruct) fail(at, `universal tag ${tag} ${constructed ? "constructed" : "primitive"}`);
  const length = e - s;
  switch (tag) {
    case UNIVERSAL.boolean:
      // §11.1: TRUE is 0xFF.
      if (length !== 1 || (b[s] !== 0x00 && b[s] !== 0xff)) fail(at, "BOOLEAN not one byte 0x00 or 0xFF");
      return;
    case UNIVERSAL.integer:
    case UNIVERSAL.enumerated: {
      // §8.3.2: the first nine bits are not all equal.
      if (length === 0) fail(at, "empty INTEGER");
      const first = b[s] as number;
      const second = b[s + 1] as number;
      if (length > 1 && ((first === 0 && second < 0x80) || (first === 0xff && second >= 0x80)))
        fail(at, "INTEGER not minimal");
      return;
    }
    case UNIVERSAL.bitString: {
      // §8.6.2 and §11.2.1: an unused-bits count of 0–7, 0 when empty, and the unused bits zero.
      const unused = b[s] as number;
      if (length === 0 || unused > 7 || (length === 1 && unused !== 0))
        fail(at, "BIT STRING unused-bits count invalid");
      if (((b[e - 1] as number) & ((1 << unused) - 1)) !== 0) fail(at, "BIT STRING unused bits not zero");
      return;
    }
    case UNIVERSAL.null:
      if (length !== 0) fail(at, "NULL with content");
      return;
    case UNIVERSAL.oid:
      // §8.19.2: each arc in base 128 without a leading 0x80, the last byte ending an arc.
      if (length === 0 || ((b[e - 1] as number) & 0x80) !== 0) fail(at, "OBJECT IDENTIFIER truncated");
      for (let i = s; i < e; i++)
        if (b[i] === 0x80 && (i === s || ((b[i - 1] as number) & 0x80) === 0))
          fail(at, "OBJECT IDENTIFIER arc not minimal");
      return;
    case UNIVERSAL.utf8String:
      if (!isUtf8(b.subarray(s, e))) fail(at, "UTF8String not UTF-8");
      return;
    case UNIVERSAL.printableString:
      if (!allIn(b, s, e, PRINTABLE)) fail(at, "PrintableString with a character outside its set");
      return;
    case UNIVERSAL.numericString:
      if (!allIn(b, s, e, NUMERIC)) fail(at, "NumericString with a character outside its set");
      return;
    case UNIVERSAL.ia5String:
    case UNIVERSAL.visibleString:
      if (!allIn(b, s, e, ASCII)) fail(at, "IA5String/VisibleString not 7-bit");
      return;
    case UNIVERSAL.utcTime:
      // X.690 §11.8: UTC, seconds present, "Z".
      if (length !== 13 || !allIn(b, s, e - 1, DIGITS) || b[e - 1] !== 0x5a) fail(at, "UTCTime not YYMMDDHHMMSSZ");
      return;
    case UNIVERSAL.generalizedTime:
      if (!generalizedTime(b, s, e)) fail(at, "GeneralizedTime not YYYYMMDDHHMMSS[.f]Z");
      return;
    case UNIVERSAL.bmpString:
      if (length % 2 !== 0) fail(at, "BMPString of an odd length");
      return;
    case UNIVERSAL.universalString:
      if (length % 4 !== 0) fail(at, "UniversalString length not a multiple of 4");
  }
}

/** A character set as a table of the bytes in it. */
function charset(chars: string): Uint8Array {
  const table = new Uint8Array(256);
  for (const c of chars) table[c.charCodeAt(0)] = 1;
  return table;
}

function allIn(b: Uint8Array, s: number, e: number, set: Uint8Array): boolean {
  for (let i = s; i < e; i++) if (set[b[i] as number] !== 1) return false;
  return true;
}

/** X.690 §11.7: UTC, seconds present, a fraction without trailing zeros, "Z". */
function generalizedTime(b: Uint8Array, s: number, e: number): boolean {
  if (e - s < 15 || b[e - 1] !== 0x5a || !allIn(b, s, s + 14, DIGITS)) return false;
  if (e - s === 15) return true;
  // ".d…dZ": at least one digit, the last not 0.
  return e - s >= 17 && b[s + 14] === 0x2e && allIn(b, s + 15, e - 1, DIGITS) && b[e - 2] !== 0x30;
}

/**
 * Why a certificate (already parsed by OpenSSL, so X.509 in shape) is not
 * DER, looking inside each extension's OCTET STRING too, where RFC 5280 puts
 * the DER of the extension's value, or repeats an extension; undefined when
 * none of that.
 */
export function certificateDerProblem(raw: Uint8Array): string | undefined {
  const problem = derProblem(raw);
  if (problem !== undefined) return problem;
  const tbs = elementsIn(contentOf(raw))[0];
  // TBSCertificate's extensions: [3] EXPLICIT SEQUENCE OF Extension.
  const tagged = tbs === undefined ? undefined : elementsIn(contentOf(tbs)).find((e) => e[0] === 0xa3);
  const list = tagged === undefined ? undefined : elementsIn(contentOf(tagged))[0];
  const seen = new Set<string>();
  for (const extension of list === undefined ? [] : elementsIn(contentOf(list))) {
    const parts = elementsIn(contentOf(extension));
    // RFC 5280 §4.2: one instance of an extension; Node's rendering would show the first of two SANs only.
    const oid = Buffer.from(parts[0] ?? []).toString("hex");
    if (seen.has(oid)) return "an extension twice";
    seen.add(oid);
    const value = parts.at(-1);
    if (value?.[0] !== UNIVERSAL.octetString) return "an extension without an OCTET STRING value";
    const inner = derProblem(contentOf(value));
    if (inner !== undefined) return `an extension value: ${inner}`;
  }
  return undefined;
}

/** The content of one element that derProblem accepted (so its header is well formed). */
function contentOf(der: Uint8Array): Uint8Array {
  let p = 1;
  if (((der[0] as number) & 0x1f) === 0x1f) while (((der[p++] as number) & 0x80) !== 0);
  const first = der[p++] as number;
  if (first < 0x80) return der.subarray(p, p + first);
  let length = 0;
  for (let i = 0; i < (first & 0x7f); i++) length = length * 256 + (der[p++] as number);
  return der.subarray(p, p + length);
}

/** The elements one after another in content that derProblem accepted. */
function elementsIn(content: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < content.length; ) {
    const inner = contentOf(content.subarray(at));
    const end = inner.byteOffset - content.byteOffset + inner.length;
    out.push(content.subarray(at, end));
    at = end;
  }
  return out;
}

declare const storedBrand: unique symbol;

/**
 * A value as the KV holds it: its bytes as a one-byte string, one char per
 * byte (latin1). Held as a Uint8Array, each of 100,000 small values costs a
 * typed array, an ArrayBuffer and a native backing store (about 400 bytes
 * beside the data, much of it outside the V8 heap); a one-byte string costs
 * a 16-byte header and lives in the heap alone. Branded so text and stored
 * bytes are never mixed up.
 */
export type StoredValue = string & { readonly [storedBrand]: true };

export function storedFromBytes(bytes: Uint8Array): StoredValue {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1") as StoredValue;
}

/**
 * Whether every char of `s` is ASCII: then its UTF-8 bytes are its chars, one each, and the stored form is the
 * string itself. (Any other char takes two or more UTF-8 bytes, a lone surrogate three.) Most stored text is
 * ASCII JSON, and skipping the Buffer round trip saves a copy and its garbage per write.
 */
function ascii(s: string): boolean {
  return Buffer.byteLength(s, "utf8") === s.length;
}

/** Text is stored as its UTF-8 bytes. */
export function storedFromText(text: string): StoredValue {
  if (ascii(text)) return text as StoredValue;
  return Buffer.from(text, "utf8").toString("latin1") as StoredValue;
}

export function storedBytes(value: StoredValue): Buffer {
  return Buffer.from(value, "latin1");
}

export function storedText(value: StoredValue): string {
  if (ascii(value)) return value;
  return storedBytes(value).toString("utf8");
}

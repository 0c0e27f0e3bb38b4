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

/** Text is stored as its UTF-8 bytes. */
export function storedFromText(text: string): StoredValue {
  return Buffer.from(text, "utf8").toString("latin1") as StoredValue;
}

export function storedBytes(value: StoredValue): Buffer {
  return Buffer.from(value, "latin1");
}

export function storedText(value: StoredValue): string {
  return storedBytes(value).toString("utf8");
}

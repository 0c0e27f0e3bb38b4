import xxhash from "xxhash-wasm";

const hasher = await xxhash();

/** XXH32 of a string's UTF-8 bytes: fast and well mixed, unsigned 32-bit. */
export function hash32(input: string, seed = 0): number {
  return hasher.h32(input, seed) >>> 0;
}

import xxhash from "xxhash-wasm";

const hasher = await xxhash();

/** XXH32 of a string's UTF-8 bytes: fast and well mixed, unsigned 32-bit (consistent-hash load balancing). */
export function hash32(input: string, seed = 0): number {
  return hasher.h32(input, seed) >>> 0;
}

/**
 * A 64-bit fingerprint (XXH64, hex) of a string, for "did this change?"
 * questions asked thousands of times per revision; never for security.
 */
export function fingerprint(input: string): string {
  return hasher.h64ToString(input);
}

import xxhash from "xxhash-wasm";

const hasher = await xxhash();

/**
 * A 64-bit fingerprint (XXH64, hex) of a string, for "did this change?"
 * questions asked thousands of times per revision; never for security.
 */
export function fingerprint(input: string): string {
  return hasher.h64ToString(input);
}

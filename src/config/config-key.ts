/**
 * App-config keys and values, as every part of meshlet checks them: the
 * control plane's API, the ConfigRelease and Service schemas, the sidecar's
 * admin port and the CLI. One definition, so they can never disagree.
 */

/** 1-256 characters of `[A-Za-z0-9._/-]` (DESIGN.md); `:` is free for the API's custom methods (`KEY:promote`). */
const KEY = /^[A-Za-z0-9._/-]{1,256}$/;

export const CONFIG_KEY_PATTERN = KEY.source;
export const CONFIG_KEY_HINT = "a config key: 1-256 characters of A-Z a-z 0-9 . _ / -";

/** The default largest value, in bytes (`meshlet control --max-value-size`). */
export const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024;
/**
 * The largest --max-value-size accepted: a value travels base64-encoded in one
 * Raft entry, and entries above a few MiB slow every follower's catch-up.
 */
export const MAX_VALUE_BYTES_CEILING = 16 * 1024 * 1024;

/** Why `key` is not a valid config key, or undefined when it is. */
export function invalidKeyReason(key: string): string | undefined {
  if (key.length === 0 || key.length > 256) return `key must be 1-256 characters, got ${key.length}`;
  if (!KEY.test(key)) return "key may contain only A-Z a-z 0-9 . _ / -";
  return undefined;
}

/** Whether `key` is one of `keys` or starts with one of `prefixes` (a Service's spec.config). */
export function declares(decl: { keys: readonly string[]; prefixes: readonly string[] }, key: string): boolean {
  return decl.keys.includes(key) || decl.prefixes.some((p) => key.startsWith(p));
}

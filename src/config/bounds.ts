/**
 * Bounds on the numbers a resource may carry, checked by the schema so the
 * control plane refuses a value before any sidecar sees it. They are sane
 * rather than tight: past them a value is a typo or an attack, and some would
 * break the sidecar (a timer over Node's limit fires at once; a table size is
 * allocated up front).
 */

const HOUR_MS = 3_600_000;

/**
 * The longest timer a resource may set (timeouts, windows, intervals, ages):
 * a day. Node's own limit is 2^31 - 1 ms (24.8 days), past which a timer
 * fires after 1 ms instead.
 */
export const MAX_TIMER_MS = 24 * HOUR_MS;
/** A cookie's lifetime is a Max-Age, not a timer: up to a year. */
export const MAX_COOKIE_TTL_MS = 365 * 24 * HOUR_MS;
/** The slowest rate limit: one request every 1000 s (a rate is requests per second, > 0). */
export const MIN_RATE_PER_SECOND = 0.001;
/** Far above any real rate: "effectively unlimited" (test/bench/proxy.ts uses 10,000,000). */
export const MAX_RATE_PER_SECOND = 1_000_000_000;
/** Entries of a table a sidecar sizes up front (a per-key limiter's keys, a stale cache's entries). */
export const MAX_TABLE_ENTRIES = 1_000_000;
/** Counters and thresholds (connections, requests, errors). */
export const MAX_COUNT = 1_000_000_000;
/** Bytes a stale cache may hold. */
export const MAX_CACHE_BYTES = 1024 * 1024 * 1024;

/** "24h", "8760h": how a bound reads in an error message. */
export function formatBound(ms: number): string {
  return ms % HOUR_MS === 0 ? `${ms / HOUR_MS}h` : `${ms}ms`;
}

/** Rules per AuthorizationPolicy: each may be checked on every request the policy selects. */
export const MAX_AUTHZ_RULES = 1024;

/** An AuthorizationPolicy identity: exact, `prefix*`, `*suffix`, or `*` (any mesh identity); one `*`, at an end. */
export const IDENTITY_PATTERN = /^(\*|\*?[^*]+|[^*]+\*)$/;

/** The largest serialized message a static gRPC fallback answers with, and its base64 form's length. */
export const MAX_STATIC_GRPC_RESPONSE = 64 * 1024;
export const MAX_STATIC_GRPC_BASE64 = Math.ceil(MAX_STATIC_GRPC_RESPONSE / 3) * 4;
/** Standard base64, padded (RFC 4648 §4). */
export const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/**
 * An AuthorizationPolicy principal: `*` (any mesh identity), an exact SPIFFE ID, or a SPIFFE ID prefix ending
 * in `/*` (whole path segments only, so `.../ns/prod/*` cannot match `.../ns/prod-evil/...`). SPIFFE's
 * characters, no `.`/`..` segment: a spelling no certificate can carry would be a rule that never matches.
 */
export const PRINCIPAL_PATTERN = /^(\*|spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)*(\/\*)?)$/;

export function isPrincipalPattern(value: string): boolean {
  if (!PRINCIPAL_PATTERN.test(value) || /\/\.{1,2}(\/|$)/.test(value)) return false;
  // An exact ID needs a path; a bare trust domain names no workload.
  return value === "*" || value.endsWith("/*") || value.indexOf("/", "spiffe://".length) > 0;
}

import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Bearer tokens of the control plane. A token is `mlt_` and 43 base64url characters (32 random bytes), so a
 * leaked one is recognizable in a secret scanner and a typo is refused before any lookup. The control plane
 * keeps only the SHA-256 of a token: the token has 256 bits of entropy, so a slow password hash would add
 * nothing but CPU per request.
 */
export const TOKEN_PREFIX = "mlt_";
const SECRET_BYTES = 32;
const SECRET_CHARS = 43;
export const TOKEN_LENGTH = TOKEN_PREFIX.length + SECRET_CHARS;
const TOKEN_SHAPE = /^mlt_[A-Za-z0-9_-]{43}$/;

/** A new token from `random` (crypto.randomBytes in production; injected so tests can pin it). */
export function generateToken(random: (bytes: number) => Buffer): string {
  return TOKEN_PREFIX + random(SECRET_BYTES).toString("base64url");
}

/** The stored form of a token: lowercase hex SHA-256. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Two token hashes compared in time independent of where they differ. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * What follows `Bearer ` in an Authorization header: the scheme in any case (RFC 9110 §11.1: auth schemes are
 * case-insensitive), one space; undefined for another scheme or none. The one reading of the scheme for meshlet
 * tokens and Kubernetes tokens alike, so both take or refuse the same headers.
 */
export function bearerCredential(header: string): string | undefined {
  const space = header.indexOf(" ");
  if (space < 0 || header.slice(0, space).toLowerCase() !== "bearer") return undefined;
  return header.slice(space + 1);
}

export type BearerResult =
  | { ok: true; token: string }
  | { ok: false; code: "ERR_UNAUTHENTICATED" | "ERR_TOKEN_MALFORMED"; message: string };

/**
 * The token in an `Authorization` header (HTTP) or `authorization` metadata (gRPC). Only the `Bearer` scheme,
 * one space, and a token of the exact shape: anything else is refused without being looked up, and no part of
 * it is echoed back (it may be a secret of something else).
 */
export function parseBearer(header: string | undefined): BearerResult {
  if (header === undefined || header === "")
    return {
      ok: false,
      code: "ERR_UNAUTHENTICATED",
      message: "this API needs an Authorization: Bearer <token> header",
    };
  // Longer than any well-formed header: refused before any other work.
  if (header.length > TOKEN_LENGTH + 16)
    return {
      ok: false,
      code: "ERR_TOKEN_MALFORMED",
      message: "the Authorization header is not a meshlet bearer token",
    };
  const token = bearerCredential(header);
  if (token === undefined)
    return { ok: false, code: "ERR_TOKEN_MALFORMED", message: "the Authorization header must use the Bearer scheme" };
  if (!TOKEN_SHAPE.test(token))
    return {
      ok: false,
      code: "ERR_TOKEN_MALFORMED",
      message: `the bearer token is not a meshlet token (${TOKEN_PREFIX} and ${SECRET_CHARS} base64url characters)`,
    };
  return { ok: true, token };
}

const SUBPROTOCOL = "meshlet.bearer.";

/** A browser's WebSocket cannot carry headers: the dashboard offers `meshlet.bearer.<token>` as a subprotocol. */
export function bearerFromSubprotocols(header: string | undefined): string | undefined {
  for (const p of (header ?? "").split(",")) {
    const v = p.trim();
    if (v.startsWith(SUBPROTOCOL)) return `Bearer ${v.slice(SUBPROTOCOL.length)}`;
  }
  return undefined;
}

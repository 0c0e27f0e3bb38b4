import { MeshletError } from "../../common/errors.ts";
import type { KvOp, KvView, Outcome } from "../registry/kv-ops.ts";
import type { Principal, Role } from "./roles.ts";
import { sameHash } from "./token.ts";

/**
 * Tokens in the Raft state, ordered like every other change: `auth/tokens/{name}` holds a token's record and
 * `auth/token-hashes/{sha256}` names the token a hash belongs to. Only hashes are stored. A revoked token keeps
 * its record (marked) and its hash entry, so a replay of it is told "revoked", not "unknown", on every node.
 */
export const TOKENS_PREFIX = "auth/tokens/";
export const TOKEN_HASHES_PREFIX = "auth/token-hashes/";

/** A token's name: what `meshlet token list/revoke` and the logs call it. */
export const TOKEN_NAME = /^[a-z0-9]([a-z0-9._-]{0,62})$/;

export interface TokenRecord {
  name: string;
  role: Role;
  service?: string;
  prefix?: string;
  hash: string;
  /** Epoch ms, from the proposer's clock (handlers may not read one). */
  createdAt: number;
  expiresAt?: number;
  revokedAt?: number;
}

export type AuthCommand =
  | { type: "auth.token.create"; token: TokenRecord; ifAbsent?: boolean }
  | { type: "auth.token.revoke"; name: string; at: number };

export const AUTH_COMMAND_TYPES = ["auth.token.create", "auth.token.revoke"] as const;

export class TokenExistsError extends MeshletError {
  constructor(name: string) {
    super("ERR_EXISTS", `a token named "${name}" exists; revoke it first or pick another name`);
    this.name = "TokenExistsError";
  }
}

export class TokenNotFoundError extends MeshletError {
  constructor(name: string) {
    super("ERR_NOT_FOUND", `no token named "${name}"`);
    this.name = "TokenNotFoundError";
  }
}

export function tokenKey(name: string): string {
  return `${TOKENS_PREFIX}${name}`;
}

function hashKey(hash: string): string {
  return `${TOKEN_HASHES_PREFIX}${hash}`;
}

export function readRecord(kv: Pick<KvView, "get">, name: string): TokenRecord | undefined {
  const raw = kv.get(tokenKey(name));
  return raw === undefined ? undefined : (JSON.parse(raw) as TokenRecord);
}

/** The pure handler of both commands: the KV ops of one entry, applied all-or-nothing. */
export function applyAuthCommand(kv: KvView, command: AuthCommand): Outcome<{ created?: boolean; revoked?: boolean }> {
  if (command.type === "auth.token.create") {
    const t = command.token;
    if (!TOKEN_NAME.test(t.name)) throw new MeshletError("ERR_BAD_REQUEST", `invalid token name "${t.name}"`);
    const existing = readRecord(kv, t.name);
    if (existing !== undefined && command.ifAbsent === true) return { ops: [], result: { created: false } };
    if (existing !== undefined && existing.revokedAt === undefined) throw new TokenExistsError(t.name);
    if (kv.get(hashKey(t.hash)) !== undefined) throw new MeshletError("ERR_EXISTS", "that token is already known");
    const ops: KvOp[] = [
      { op: "put", key: tokenKey(t.name), value: JSON.stringify(t) },
      { op: "put", key: hashKey(t.hash), value: t.name },
    ];
    return { ops, result: { created: true } };
  }
  const existing = readRecord(kv, command.name);
  if (existing === undefined) throw new TokenNotFoundError(command.name);
  if (existing.revokedAt !== undefined) return { ops: [], result: { revoked: false } };
  const revoked: TokenRecord = { ...existing, revokedAt: command.at };
  return {
    ops: [{ op: "put", key: tokenKey(command.name), value: JSON.stringify(revoked) }],
    result: { revoked: true },
  };
}

export type AuthFailure = "ERR_TOKEN_UNKNOWN" | "ERR_TOKEN_REVOKED" | "ERR_TOKEN_EXPIRED";
export type Authenticated = { ok: true; principal: Principal } | { ok: false; code: AuthFailure; message: string };

/** Who the token with this hash speaks for, in `kv` (this node's applied state), at `now` (epoch ms). */
export function authenticateHash(kv: Pick<KvView, "get">, hash: string, now: number): Authenticated {
  const name = kv.get(hashKey(hash));
  if (name === undefined)
    return { ok: false, code: "ERR_TOKEN_UNKNOWN", message: "the token is not known to this cluster" };
  const record = readRecord(kv, name);
  // A token whose name was re-created after a revoke has a record with another hash: it stays revoked.
  if (record === undefined || record.revokedAt !== undefined || !sameHash(record.hash, hash))
    return { ok: false, code: "ERR_TOKEN_REVOKED", message: `token ${name} was revoked` };
  if (record.expiresAt !== undefined && record.expiresAt <= now)
    return {
      ok: false,
      code: "ERR_TOKEN_EXPIRED",
      message: `token ${name} expired at ${new Date(record.expiresAt).toISOString()}`,
    };
  const principal: Principal = { name: record.name, role: record.role };
  if (record.service !== undefined) principal.service = record.service;
  if (record.prefix !== undefined) principal.prefix = record.prefix;
  return { ok: true, principal };
}

/** What `meshlet token list` shows: never the hash. */
export interface TokenView {
  name: string;
  role: Role;
  service?: string;
  prefix?: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

export function tokenView(r: TokenRecord): TokenView {
  return {
    name: r.name,
    role: r.role,
    ...(r.service === undefined ? {} : { service: r.service }),
    ...(r.prefix === undefined ? {} : { prefix: r.prefix }),
    createdAt: new Date(r.createdAt).toISOString(),
    expiresAt: r.expiresAt === undefined ? null : new Date(r.expiresAt).toISOString(),
    revokedAt: r.revokedAt === undefined ? null : new Date(r.revokedAt).toISOString(),
  };
}

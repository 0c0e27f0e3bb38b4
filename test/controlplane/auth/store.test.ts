import assert from "node:assert/strict";
import { test } from "node:test";
import { denial } from "../../../src/controlplane/auth/roles.ts";
import {
  type AuthCommand,
  applyAuthCommand,
  authenticateHash,
  type TokenRecord,
} from "../../../src/controlplane/auth/store.ts";
import { generateToken, hashToken } from "../../../src/controlplane/auth/token.ts";
import { MemoryKv } from "../registry/memory-kv.ts";

function token(seed: number): string {
  return generateToken(() => Buffer.alloc(32, seed));
}

function record(name: string, t: string, extra: Partial<TokenRecord> = {}): TokenRecord {
  return { name, role: "operator", hash: hashToken(t), createdAt: 1_000, ...extra };
}

function run(kv: MemoryKv, command: AuthCommand) {
  const { ops, result } = applyAuthCommand(kv, command);
  kv.apply(ops);
  return result;
}

test("create, authenticate, revoke: a revoked token is refused as revoked, and stays so when its name is reused", () => {
  const kv = new MemoryKv();
  const first = token(1);
  run(kv, { type: "auth.token.create", token: record("ci", first) });
  const ok = authenticateHash(kv, hashToken(first), 2_000);
  assert.deepEqual(ok, { ok: true, principal: { name: "ci", role: "operator" } });
  assert.throws(() => run(kv, { type: "auth.token.create", token: record("ci", token(2)) }), { code: "ERR_EXISTS" });

  assert.deepEqual(run(kv, { type: "auth.token.revoke", name: "ci", at: 3_000 }), { revoked: true });
  assert.deepEqual(run(kv, { type: "auth.token.revoke", name: "ci", at: 4_000 }), { revoked: false }, "idempotent");
  const replay = authenticateHash(kv, hashToken(first), 5_000);
  assert.equal(replay.ok, false);
  if (!replay.ok) assert.equal(replay.code, "ERR_TOKEN_REVOKED");

  const second = token(2);
  run(kv, { type: "auth.token.create", token: record("ci", second) });
  assert.equal(authenticateHash(kv, hashToken(second), 5_000).ok, true);
  const old = authenticateHash(kv, hashToken(first), 5_000);
  assert.equal(old.ok ? "accepted" : old.code, "ERR_TOKEN_REVOKED", "the old token of a reused name stays revoked");
  assert.throws(() => run(kv, { type: "auth.token.revoke", name: "nope", at: 1 }), { code: "ERR_NOT_FOUND" });
});

test("an unknown token is unknown; an expired one is refused from its expiry on", () => {
  const kv = new MemoryKv();
  const t = token(3);
  run(kv, { type: "auth.token.create", token: record("short", t, { expiresAt: 10_000 }) });
  assert.equal(authenticateHash(kv, hashToken(t), 9_999).ok, true);
  const expired = authenticateHash(kv, hashToken(t), 10_000);
  assert.equal(expired.ok ? "accepted" : expired.code, "ERR_TOKEN_EXPIRED");
  const unknown = authenticateHash(kv, hashToken(token(4)), 0);
  assert.equal(unknown.ok ? "accepted" : unknown.code, "ERR_TOKEN_UNKNOWN");
});

test("the bootstrap create (ifAbsent) never brings back a revoked admin token", () => {
  const kv = new MemoryKv();
  const t = token(5);
  const boot: AuthCommand = {
    type: "auth.token.create",
    token: record("admin-n1", t, { role: "admin" }),
    ifAbsent: true,
  };
  assert.deepEqual(run(kv, boot), { created: true });
  assert.deepEqual(run(kv, boot), { created: false });
  run(kv, { type: "auth.token.revoke", name: "admin-n1", at: 1 });
  assert.deepEqual(run(kv, boot), { created: false });
  assert.equal(authenticateHash(kv, hashToken(t), 2).ok, false);
});

test("stored state holds hashes only, never the token", () => {
  const kv = new MemoryKv();
  const t = token(6);
  run(kv, { type: "auth.token.create", token: record("x", t) });
  for (const [key, { value }] of kv.data) {
    assert.ok(!key.includes(t) && !value.includes(t), `${key} holds the token`);
    assert.ok(!value.includes(t.slice(4)), `${key} holds the secret part`);
  }
});

test("roles: what each may do (table)", () => {
  const p = (role: "admin" | "operator" | "config-writer" | "read-only" | "sidecar", extra = {}) => ({
    name: "t",
    role,
    ...extra,
  });
  const cases: [ReturnType<typeof p>, Parameters<typeof denial>[1], boolean][] = [
    [p("read-only"), { kind: "read" }, true],
    [p("read-only"), { kind: "resources" }, false],
    [p("read-only"), { kind: "config", key: "a" }, false],
    [p("read-only"), { kind: "admin" }, false],
    [p("read-only"), { kind: "attach" }, false],
    [p("operator"), { kind: "resources" }, true],
    [p("operator"), { kind: "config", key: "a" }, false],
    [p("operator"), { kind: "admin" }, false],
    [p("config-writer", { prefix: "app/" }), { kind: "config", key: "app/x" }, true],
    [p("config-writer", { prefix: "app/" }), { kind: "config", key: "apps" }, false],
    [p("config-writer", { prefix: "app/" }), { kind: "resources" }, false],
    [p("config-writer", { prefix: "" }), { kind: "config", key: "anything" }, true],
    [p("sidecar", { service: "web" }), { kind: "attach" }, true],
    [p("sidecar", { service: "web" }), { kind: "sidecar", service: "web" }, true],
    [p("sidecar", { service: "web" }), { kind: "sidecar", service: "db" }, false],
    [p("sidecar", { service: "web" }), { kind: "read" }, false],
    [p("admin"), { kind: "admin" }, true],
    [p("admin"), { kind: "sidecar", service: "db" }, true],
    [p("admin"), { kind: "config", key: "x" }, true],
    [p("read-only"), { kind: "open" }, true],
  ];
  for (const [who, access, allowed] of cases)
    assert.equal(denial(who, access) === undefined, allowed, `${who.role} ${JSON.stringify(access)}`);
});

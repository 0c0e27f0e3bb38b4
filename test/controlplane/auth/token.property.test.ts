import assert from "node:assert/strict";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { test } from "node:test";
import fc from "fast-check";
import { type AuthCommand, applyAuthCommand, authenticateHash } from "../../../src/controlplane/auth/store.ts";
import { bearerFromSubprotocols, generateToken, hashToken, parseBearer } from "../../../src/controlplane/auth/token.ts";
import { MemoryKv } from "../registry/memory-kv.ts";

/** Fixed so a failure replays; fast-check prints the seed and path of a failing case. */
const SEED = 0x70ce;
const runs = (numRuns: number) => ({ seed: SEED, numRuns });

const NOW = 10_000;
const kv = new MemoryKv();
function run(command: AuthCommand): void {
  kv.apply(applyAuthCommand(kv, command).ops);
}
const tokenOf = (byte: number) => generateToken(() => Buffer.alloc(32, byte));
const ACTIVE = tokenOf(1);
const REVOKED = tokenOf(2);
const EXPIRED = tokenOf(3);
run({ type: "auth.token.create", token: { name: "ci", role: "admin", hash: hashToken(ACTIVE), createdAt: 1 } });
run({ type: "auth.token.create", token: { name: "old", role: "admin", hash: hashToken(REVOKED), createdAt: 1 } });
run({ type: "auth.token.revoke", name: "old", at: 2 });
run({
  type: "auth.token.create",
  token: { name: "tmp", role: "admin", hash: hashToken(EXPIRED), createdAt: 1, expiresAt: NOW },
});

/** What the guard does with an Authorization header: parse, hash, look up. A principal or the refusal code. */
function authenticate(header: string): string {
  const bearer = parseBearer(header);
  if (!bearer.ok) return bearer.code;
  const who = authenticateHash(kv, hashToken(bearer.token), NOW);
  return who.ok ? `ok ${who.principal.name}` : who.code;
}

const CHARS = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", "=", " ", "é", "\u0000", "+"];
const edit = fc.oneof(
  fc.record({ kind: fc.constant("replace" as const), at: fc.nat(), ch: fc.constantFrom(...CHARS) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), ch: fc.constantFrom(...CHARS) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("case" as const), at: fc.nat() }),
);
type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never;

function apply(s: string, e: Edit): string {
  const at = e.at % (s.length + 1);
  if (e.kind === "replace") return s.slice(0, at) + e.ch + s.slice(at + 1);
  if (e.kind === "insert") return s.slice(0, at) + e.ch + s.slice(at);
  if (e.kind === "delete") return s.slice(0, at) + s.slice(at + 1);
  const c = s.charAt(at);
  return s.slice(0, at) + (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) + s.slice(at + 1);
}

test("property: an edited token never authenticates unless the edit gave back the same token; never throws", () => {
  assert.equal(authenticate(`Bearer ${ACTIVE}`), "ok ci");
  fc.assert(
    fc.property(fc.constantFrom(ACTIVE, REVOKED, EXPIRED), fc.array(edit, { minLength: 1, maxLength: 4 }), (t, es) => {
      const edited = es.reduce(apply, `Bearer ${t}`);
      const r = authenticate(edited);
      const same = edited.slice("Bearer ".length) === ACTIVE && /^bearer $/i.test(edited.slice(0, 7));
      assert.equal(r.startsWith("ok"), same, `${r} for ${JSON.stringify(edited)}`);
      if (r.startsWith("ok")) return;
      assert.ok(
        [
          "ERR_TOKEN_MALFORMED",
          "ERR_UNAUTHENTICATED",
          "ERR_TOKEN_UNKNOWN",
          "ERR_TOKEN_REVOKED",
          "ERR_TOKEN_EXPIRED",
        ].includes(r),
        r,
      );
    }),
    runs(3_000),
  );
});

test("property: a token of the right shape that was never issued is unknown; a revoked or expired one stays refused", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
      const t = generateToken(() => Buffer.from(bytes));
      const expected =
        t === ACTIVE
          ? "ok ci"
          : t === REVOKED
            ? "ERR_TOKEN_REVOKED"
            : t === EXPIRED
              ? "ERR_TOKEN_EXPIRED"
              : "ERR_TOKEN_UNKNOWN";
      assert.equal(authenticate(`Bearer ${t}`), expected);
    }),
    runs(1_000),
  );
  assert.equal(authenticate(`Bearer ${REVOKED}`), "ERR_TOKEN_REVOKED");
  assert.equal(authenticate(`Bearer ${EXPIRED}`), "ERR_TOKEN_EXPIRED");
});

test("the stored hash is compared with crypto.timingSafeEqual, not ===", (t) => {
  // node:crypto's ESM exports follow its CommonJS object after syncBuiltinESMExports, so token.ts sees the spy.
  const crypto = createRequire(import.meta.url)("node:crypto") as typeof import("node:crypto");
  const original = crypto.timingSafeEqual;
  let calls = 0;
  crypto.timingSafeEqual = (a, b) => {
    calls++;
    return original(a, b);
  };
  syncBuiltinESMExports();
  t.after(() => {
    crypto.timingSafeEqual = original;
    syncBuiltinESMExports();
  });
  assert.equal(authenticate(`Bearer ${ACTIVE}`), "ok ci");
  assert.equal(calls, 1);
});

test("property: a WebSocket subprotocol list yields a token only from a whole `meshlet.bearer.<token>` entry", () => {
  const entry = fc.oneof(
    fc.constantFrom("meshlet.v1", `meshlet.bearer.${ACTIVE}`, `meshlet.bearer.${ACTIVE}x`, "meshlet.bearer.", " "),
    fc.string({ maxLength: 20 }),
    fc.string({ maxLength: 50 }).map((x) => `meshlet.bearer.${x}`),
    fc.string({ minLength: 1, maxLength: 8 }).map((x) => `${x}meshlet.bearer.${ACTIVE}`),
  );
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 4 }), fc.constantFrom(",", ", ", " ,"), (entries, sep) => {
      const header = entries.join(sep);
      const bearer = bearerFromSubprotocols(header);
      if (bearer === undefined) return;
      const parsed = parseBearer(bearer);
      if (!parsed.ok) return;
      const entryOf = header
        .split(",")
        .map((e) => e.trim())
        .find((e) => e.startsWith("meshlet.bearer."));
      assert.equal(entryOf, `meshlet.bearer.${parsed.token}`);
    }),
    runs(2_000),
  );
});

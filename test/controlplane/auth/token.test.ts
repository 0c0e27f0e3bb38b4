import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import {
  bearerFromSubprotocols,
  generateToken,
  hashToken,
  parseBearer,
  sameHash,
  TOKEN_LENGTH,
} from "../../../src/controlplane/auth/token.ts";

const GOOD = generateToken(() => Buffer.alloc(32, 7));

test("a generated token has the documented shape and hashes to 64 hex digits", () => {
  const t = generateToken(randomBytes);
  assert.match(t, /^mlt_[A-Za-z0-9_-]{43}$/);
  assert.equal(t.length, TOKEN_LENGTH);
  assert.match(hashToken(t), /^[0-9a-f]{64}$/);
  assert.notEqual(generateToken(randomBytes), t);
});

test("hostile Authorization headers are refused before any lookup, with a code and without echoing them", () => {
  const cases: [string, string | undefined, string][] = [
    ["absent", undefined, "ERR_UNAUTHENTICATED"],
    ["empty", "", "ERR_UNAUTHENTICATED"],
    ["scheme only", "Bearer", "ERR_TOKEN_MALFORMED"],
    ["scheme and space", "Bearer ", "ERR_TOKEN_MALFORMED"],
    ["other scheme", `Basic ${GOOD}`, "ERR_TOKEN_MALFORMED"],
    ["no scheme", GOOD, "ERR_TOKEN_MALFORMED"],
    ["two spaces", `Bearer  ${GOOD}`, "ERR_TOKEN_MALFORMED"],
    ["wrong prefix", `Bearer xyz_${GOOD.slice(4)}`, "ERR_TOKEN_MALFORMED"],
    ["one character short", `Bearer ${GOOD.slice(0, -1)}`, "ERR_TOKEN_MALFORMED"],
    ["one character long", `Bearer ${GOOD}A`, "ERR_TOKEN_MALFORMED"],
    ["huge", `Bearer ${"A".repeat(1_000_000)}`, "ERR_TOKEN_MALFORMED"],
    ["non-ASCII", `Bearer ${GOOD.slice(0, -1)}é`, "ERR_TOKEN_MALFORMED"],
    ["padding", `Bearer ${GOOD.slice(0, -1)}=`, "ERR_TOKEN_MALFORMED"],
    ["NUL inside", `Bearer ${GOOD.slice(0, 10)}\u0000${GOOD.slice(11)}`, "ERR_TOKEN_MALFORMED"],
    ["trailing newline", `Bearer ${GOOD}\n`, "ERR_TOKEN_MALFORMED"],
    ["two tokens joined (repeated header)", `Bearer ${GOOD}, Bearer ${GOOD}`, "ERR_TOKEN_MALFORMED"],
  ];
  for (const [what, header, code] of cases) {
    const r = parseBearer(header);
    assert.equal(r.ok, false, what);
    if (!r.ok) {
      assert.equal(r.code, code, what);
      assert.ok(!r.message.includes(GOOD.slice(4)), `${what}: the message holds no part of the token`);
    }
  }
  assert.deepEqual(parseBearer(`Bearer ${GOOD}`), { ok: true, token: GOOD });
  assert.deepEqual(
    parseBearer(`bearer ${GOOD}`),
    { ok: true, token: GOOD },
    "the scheme is case-insensitive (RFC 9110)",
  );
});

test("property: parseBearer accepts exactly `Bearer mlt_` + 43 base64url characters, and never throws", () => {
  const shape = /^[Bb][Ee][Aa][Rr][Ee][Rr] mlt_[A-Za-z0-9_-]{43}$/;
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 80 }),
        fc.string({ unit: "grapheme", maxLength: 60 }).map((s) => `Bearer ${s}`),
        fc.string({ maxLength: 50 }).map((s) => `Bearer mlt_${s}`),
      ),
      (header) => {
        const r = parseBearer(header);
        assert.equal(r.ok, shape.test(header));
      },
    ),
    { numRuns: 3_000 },
  );
  const base64url = fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".split(""));
  fc.assert(
    fc.property(fc.array(base64url, { minLength: 43, maxLength: 43 }), (chars) => {
      const token = `mlt_${chars.join("")}`;
      assert.deepEqual(parseBearer(`Bearer ${token}`), { ok: true, token });
    }),
    { numRuns: 1_000 },
  );
});

test("hashes are compared in constant time: equal, different, different length", () => {
  const h = hashToken(GOOD);
  assert.equal(sameHash(h, hashToken(GOOD)), true);
  assert.equal(sameHash(h, hashToken(`${GOOD.slice(0, -1)}B`)), false);
  assert.equal(sameHash(h, h.slice(0, -1)), false, "a shorter one is refused, not a throw from timingSafeEqual");
  assert.equal(sameHash(h, ""), false);
  fc.assert(
    fc.property(fc.string(), fc.string(), (a, b) => {
      assert.equal(sameHash(a, b), a === b);
    }),
    { numRuns: 2_000 },
  );
});

test("the dashboard's WebSocket carries the token as its second subprotocol", () => {
  assert.equal(bearerFromSubprotocols(`meshlet.v1, meshlet.bearer.${GOOD}`), `Bearer ${GOOD}`);
  assert.equal(bearerFromSubprotocols("meshlet.v1"), undefined);
  assert.equal(bearerFromSubprotocols(undefined), undefined);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  asGrpcReply,
  encodeGrpcMessage,
  GRPC,
  grpcCode,
  grpcCodeOf,
  grpcTimeoutMs,
} from "../../../../src/sidecar/engine/h2/grpc.ts";

test("grpc-timeout: the spec's units, at most 8 digits; anything else is no deadline", () => {
  const table: [string | undefined, number | undefined][] = [
    ["1H", 3_600_000],
    ["2M", 120_000],
    ["3S", 3_000],
    ["250m", 250],
    ["1500u", 1.5],
    ["2000000n", 2],
    ["99999999S", 99_999_999_000],
    ["0m", 0],
    [undefined, undefined],
    ["", undefined],
    ["m", undefined],
    ["100", undefined],
    ["100ms", undefined],
    ["-1S", undefined],
    ["1.5S", undefined],
    [" 1S", undefined],
    ["1s", undefined],
    ["123456789S", undefined],
    ["1x", undefined],
    ["١S", undefined],
  ];
  for (const [v, want] of table) assert.equal(grpcTimeoutMs(v), want, String(v));
});

test("grpc-timeout: any string either parses to its value or is refused, never NaN or negative (fast-check)", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 12 }), (v) => {
      const ms = grpcTimeoutMs(v);
      if (ms === undefined) return true;
      return Number.isFinite(ms) && ms >= 0 && /^\d{1,8}[HMSmun]$/.test(v);
    }),
    { numRuns: 2_000 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 99_999_999 }), fc.constantFrom("S", "m"), (n, u) => {
      return grpcTimeoutMs(`${n}${u}`) === (u === "S" ? n * 1000 : n);
    }),
  );
});

test("grpc-status values: plain decimals only", () => {
  assert.equal(grpcCode("0"), 0);
  assert.equal(grpcCode("14"), 14);
  for (const bad of [undefined, "", "1a", "-1", "1400", " 1"]) assert.equal(grpcCode(bad), undefined, String(bad));
});

test("grpc-message is percent-encoded: printable ASCII but '%' kept, the rest as UTF-8 bytes", () => {
  assert.equal(encodeGrpcMessage("no route (NR)"), "no route (NR)");
  assert.equal(encodeGrpcMessage("100% é\n"), "100%25 %C3%A9%0A");
  fc.assert(
    fc.property(fc.string(), (s) => {
      const e = encodeGrpcMessage(s);
      return /^[\x20-\x7e]*$/.test(e) && decodeURIComponent(e) === Buffer.from(s, "utf8").toString("utf8");
    }),
  );
});

test("local answers: status by flag, else by HTTP status; a reply with its own grpc-status is kept", () => {
  assert.equal(grpcCodeOf("UT", 504), GRPC.DEADLINE_EXCEEDED);
  assert.equal(grpcCodeOf("RL", 429), GRPC.RESOURCE_EXHAUSTED);
  for (const f of ["NR", "UH", "UF", "UR", "UO", "CB"]) assert.equal(grpcCodeOf(f, 503), GRPC.UNAVAILABLE, f);
  assert.equal(grpcCodeOf("-", 500), GRPC.INTERNAL);
  assert.equal(grpcCodeOf("-", 405), GRPC.UNKNOWN);
  const r = asGrpcReply({ status: 503, headers: {}, body: Buffer.from("{}") }, "UH", "no healthy upstream");
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 0);
  assert.equal(r.headers["grpc-status"], "14");
  assert.equal(r.headers["grpc-message"], "no healthy upstream (UH)");
  const own = asGrpcReply(
    { status: 200, headers: { "grpc-status": "5", "grpc-message": "gone" }, body: Buffer.from("x") },
    "CB,FB",
    "fallback",
  );
  assert.equal(own.headers["grpc-status"], "5");
  assert.equal(own.body.length, 0);
});

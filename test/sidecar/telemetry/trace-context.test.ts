import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  extractTraceContext,
  injectTraceContext,
  MAX_TRACE_HEADER,
  parseB3Single,
  parseTraceparent,
  parseTracestate,
} from "../../../src/sidecar/telemetry/trace-context.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";
const VALID = `00-${TRACE}-${SPAN}-01`;

describe("parseTraceparent", () => {
  it("reads a valid header: trace id, parent span id, sampled flag", () => {
    assert.deepEqual(parseTraceparent(VALID), { traceId: TRACE, spanId: SPAN, sampled: true });
    assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-00`), { traceId: TRACE, spanId: SPAN, sampled: false });
    // Only bit 0 is the sampled flag; other bits are carried by nobody here but do not make it invalid.
    assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-03`)?.sampled, true);
  });

  it("reads a later version as 00 (the fields it knows), and requires '-' after them when longer", () => {
    assert.deepEqual(parseTraceparent(`01-${TRACE}-${SPAN}-01`), { traceId: TRACE, spanId: SPAN, sampled: true });
    assert.deepEqual(parseTraceparent(`cc-${TRACE}-${SPAN}-01-what-the-future-says`)?.traceId, TRACE);
    assert.equal(parseTraceparent(`cc-${TRACE}-${SPAN}-01what`), undefined);
  });

  const hostile: [string, string][] = [
    ["empty", ""],
    ["all-zero trace id", `00-${"0".repeat(32)}-${SPAN}-01`],
    ["all-zero span id", `00-${TRACE}-${"0".repeat(16)}-01`],
    ["uppercase trace id", `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ["uppercase span id", `00-${TRACE}-${SPAN.toUpperCase()}-01`],
    ["uppercase version", `0A-${TRACE}-${SPAN}-01`],
    ["uppercase flags", `00-${TRACE}-${SPAN}-0A`],
    ["version ff", `ff-${TRACE}-${SPAN}-01`],
    ["version not hex", `0g-${TRACE}-${SPAN}-01`],
    ["version 00 with extra fields", `00-${TRACE}-${SPAN}-01-extra`],
    ["short trace id", `00-${TRACE.slice(1)}-${SPAN}-01`],
    ["long trace id", `00-${TRACE}a-${SPAN}-01`],
    ["short span id", `00-${TRACE}-${SPAN.slice(1)}-01`],
    ["trace id not hex", `00-${TRACE.slice(0, 31)}z-${SPAN}-01`],
    ["flags missing", `00-${TRACE}-${SPAN}-`],
    ["one-digit flags", `00-${TRACE}-${SPAN}-1`],
    ["underscores instead of dashes", `00_${TRACE}_${SPAN}_01`],
    ["leading space", ` ${VALID}`.slice(0, 55)],
    ["trailing garbage", `${VALID}x`],
    ["two headers joined", `${VALID}, ${VALID}`],
    ["over-long", `01-${TRACE}-${SPAN}-01-${"a".repeat(MAX_TRACE_HEADER)}`],
    ["unicode digits", `00-${TRACE.slice(0, 31)}٣-${SPAN}-01`],
  ];
  for (const [why, value] of hostile) {
    it(`refuses ${why}`, () => assert.equal(parseTraceparent(value), undefined));
  }

  it("never throws, and what it accepts is lower-case hex of the right length, not all zeros (property)", () => {
    const hex = fc.constantFrom(..."0123456789abcdefABCDEF-xz ".split(""));
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: hex, minLength: 50, maxLength: 60 })),
        (v) => {
          const p = parseTraceparent(v);
          if (p === undefined) return;
          assert.match(p.traceId, /^[0-9a-f]{32}$/);
          assert.match(p.spanId, /^[0-9a-f]{16}$/);
          assert.doesNotMatch(p.traceId, /^0+$/);
          assert.doesNotMatch(p.spanId, /^0+$/);
          assert.equal(v.slice(3, 35), p.traceId);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("reads back every context it writes (property)", () => {
    const id = (n: number) =>
      fc
        .string({ unit: fc.constantFrom(..."0123456789abcdef".split("")), minLength: n, maxLength: n })
        .filter((s) => !/^0+$/.test(s));
    fc.assert(
      fc.property(id(32), id(16), fc.boolean(), (traceId, spanId, sampled) => {
        const headers: string[] = [];
        injectTraceContext(headers, { traceId, spanId, sampled, tracestate: "", format: undefined });
        assert.deepEqual(extractTraceContext(headers).parent, {
          traceId,
          spanId,
          sampled,
          tracestate: "",
          format: "w3c",
        });
      }),
    );
  });
});

describe("parseTracestate", () => {
  it("keeps a valid list, trimmed, empty members dropped", () => {
    assert.equal(
      parseTracestate("congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"),
      "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
    );
    assert.equal(parseTracestate("a=1,,b=2"), "a=1,b=2");
    assert.equal(parseTracestate("tenant@vendor=x"), "tenant@vendor=x");
  });
  const hostile: [string, string][] = [
    ["a key in upper case", "Congo=1"],
    ["a member without =", "congo"],
    ["a value with a comma inside quotes", 'a="1,2"'],
    ["a value with =", "a=b=c"],
    ["an empty value", "a= "],
    ["a duplicated key", "a=1,a=2"],
    ["more than 32 members", Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(",")],
    ["over 512 characters", `a=${"x".repeat(MAX_TRACE_HEADER)}`],
    ["a control character", "a=b\u0001"],
    ["a non-ASCII value", "a=é"],
  ];
  for (const [why, value] of hostile) {
    it(`drops the whole list with ${why}`, () => assert.equal(parseTracestate(value), ""));
  }
  it("never throws and never returns more than it was given (property)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 700 }), (v) => {
        const out = parseTracestate(v);
        assert.ok(out.length <= Math.min(v.length, MAX_TRACE_HEADER));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("B3", () => {
  it("reads b3 single with 128- and 64-bit trace ids, sampling state and parent", () => {
    assert.deepEqual(parseB3Single(`${TRACE}-${SPAN}-1-${SPAN}`), {
      kind: "context",
      traceId: TRACE,
      spanId: SPAN,
      sampled: true,
    });
    assert.deepEqual(parseB3Single(`a3ce929d0e0e4736-${SPAN}`), {
      kind: "context",
      traceId: `0000000000000000a3ce929d0e0e4736`,
      spanId: SPAN,
      sampled: undefined,
    });
    assert.deepEqual(parseB3Single(`${TRACE}-${SPAN}-d`)?.kind, "context");
    assert.deepEqual(parseB3Single("0"), { kind: "sampling", sampled: false });
  });
  const hostile: [string, string][] = [
    ["all-zero trace id", `${"0".repeat(32)}-${SPAN}-1`],
    ["all-zero span id", `${TRACE}-${"0".repeat(16)}-1`],
    ["uppercase ids", `${TRACE.toUpperCase()}-${SPAN}-1`],
    ["a 20-digit trace id", `${TRACE.slice(0, 20)}-${SPAN}-1`],
    ["a bad sampling state", `${TRACE}-${SPAN}-2`],
    ["a bad parent", `${TRACE}-${SPAN}-1-xyz`],
    ["too many fields", `${TRACE}-${SPAN}-1-${SPAN}-1`],
    ["a lone bad sampling state", "true"],
    ["nothing", ""],
  ];
  for (const [why, value] of hostile) it(`refuses b3 with ${why}`, () => assert.equal(parseB3Single(value), undefined));

  it("reads the x-b3-* headers, debug flag included, and refuses a bad or repeated one", () => {
    const multi = extractTraceContext(["X-B3-TraceId", TRACE, "X-B3-SpanId", SPAN, "X-B3-Sampled", "1"]);
    assert.deepEqual(multi.parent, { traceId: TRACE, spanId: SPAN, sampled: true, tracestate: "", format: "b3-multi" });
    assert.equal(
      extractTraceContext(["x-b3-traceid", TRACE, "x-b3-spanid", SPAN, "x-b3-flags", "1"]).parent?.sampled,
      true,
    );
    assert.equal(
      extractTraceContext(["x-b3-traceid", TRACE, "x-b3-spanid", SPAN, "x-b3-sampled", "yes"]).parent,
      undefined,
    );
    assert.equal(
      extractTraceContext(["x-b3-traceid", TRACE, "x-b3-traceid", TRACE, "x-b3-spanid", SPAN]).parent,
      undefined,
    );
    assert.equal(extractTraceContext(["x-b3-traceid", TRACE]).parent, undefined);
    assert.equal(extractTraceContext(["x-b3-sampled", "0"]).sampling, false);
  });
});

describe("extractTraceContext", () => {
  it("prefers traceparent over b3, and keeps tracestate with it", () => {
    const other = "1".repeat(32);
    const e = extractTraceContext(["traceparent", VALID, "tracestate", "a=1", "b3", `${other}-${SPAN}-1`]);
    assert.deepEqual(e.parent, { traceId: TRACE, spanId: SPAN, sampled: true, tracestate: "a=1", format: "w3c" });
  });

  it("falls back to b3 when traceparent is invalid, and ignores two traceparents", () => {
    const e = extractTraceContext(["traceparent", "garbage", "b3", `${TRACE}-${SPAN}-0`]);
    assert.equal(e.parent?.format, "b3-single");
    assert.equal(e.parent?.sampled, false);
    const twice = extractTraceContext(["traceparent", VALID, "Traceparent", VALID]);
    assert.equal(twice.parent, undefined);
    assert.equal(twice.present, true);
  });

  it("joins several tracestate headers into one list", () => {
    const e = extractTraceContext(["traceparent", VALID, "tracestate", "a=1", "tracestate", "b=2"]);
    assert.equal(e.parent?.tracestate, "a=1,b=2");
  });

  it("reports no context and nothing present for a request without trace headers", () => {
    assert.deepEqual(extractTraceContext(["Host", "a", "X-Other", "1", "Accept", "*/*"]), {
      parent: undefined,
      sampling: undefined,
      present: false,
    });
  });

  it("never throws on any header list, and its parent always has valid ids (property)", () => {
    const name = fc.constantFrom(
      "traceparent",
      "tracestate",
      "b3",
      "x-b3-traceid",
      "x-b3-spanid",
      "x-b3-sampled",
      "x-b3-flags",
      "x-b3-parentspanid",
      "Host",
      "TRACEPARENT",
    );
    const value = fc.oneof(
      fc.string({ maxLength: 70 }),
      fc.constant(VALID),
      fc.constant(TRACE),
      fc.constant(SPAN),
      fc.constantFrom("0", "1", "d", "true"),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value), { maxLength: 8 }), (pairs) => {
        const e = extractTraceContext(pairs.flat());
        if (e.parent === undefined) return;
        assert.match(e.parent.traceId, /^(?!0+$)[0-9a-f]{32}$/);
        assert.match(e.parent.spanId, /^(?!0+$)[0-9a-f]{16}$/);
      }),
      { numRuns: 3000 },
    );
  });
});

describe("injectTraceContext", () => {
  it("replaces every incoming trace header and writes B3 back in the caller's form", () => {
    const headers = [
      "Host",
      "a",
      "b3",
      "junk",
      "X-B3-TraceId",
      "x",
      "traceparent",
      "old",
      "Tracestate",
      "old=1",
      "X-Keep",
      "1",
    ];
    injectTraceContext(headers, {
      traceId: TRACE,
      spanId: "1111111111111111",
      sampled: false,
      tracestate: "a=1",
      format: "b3-single",
    });
    assert.deepEqual(headers, [
      "Host",
      "a",
      "X-Keep",
      "1",
      "traceparent",
      `00-${TRACE}-1111111111111111-00`,
      "tracestate",
      "a=1",
      "b3",
      `${TRACE}-1111111111111111-0`,
    ]);
  });

  it("writes x-b3-* for a caller that used them", () => {
    const headers: string[] = [];
    injectTraceContext(headers, { traceId: TRACE, spanId: SPAN, sampled: true, tracestate: "", format: "b3-multi" });
    assert.deepEqual(headers.slice(2), ["x-b3-traceid", TRACE, "x-b3-spanid", SPAN, "x-b3-sampled", "1"]);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DURATION_PATTERN, parseDuration } from "../../src/config/duration.ts";
import { parseResources } from "../../src/config/load.ts";

const UNITS: [string, number][] = [
  ["ns", 1e-6],
  ["us", 1e-3],
  ["µs", 1e-3],
  ["μs", 1e-3],
  ["ms", 1],
  ["s", 1000],
  ["m", 60_000],
  ["h", 3_600_000],
];

describe("parseDuration (Go / Envoy syntax)", () => {
  it("reads every unit, fractions and sequences of components", () => {
    const cases: [string, number][] = [
      ["250ms", 250],
      ["1.5s", 1500],
      ["1m30s", 90_000],
      ["2h45m", 9_900_000],
      ["500us", 0.5],
      ["500µs", 0.5],
      ["1500ns", 0.0015],
      [".5s", 500],
      ["1.s", 1000],
      ["1h1m1s1ms", 3_661_001],
      ["0", 0],
      ["0s", 0],
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
  });

  it("refuses what Go refuses, and a sign", () => {
    const hostile = [
      "",
      "2",
      "-1s",
      "+1s",
      "1",
      "s",
      ".s",
      "1.5.5s",
      "1 s",
      " 1s",
      "1s ",
      "1S",
      "1sec",
      "1d",
      "1m30",
      "1e3ms",
      "0x10s",
      "NaNs",
      "Infinityms",
      "1s\n",
      "１s",
      `${"9".repeat(400)}h`,
    ];
    for (const text of hostile) assert.equal(parseDuration(text), undefined, JSON.stringify(text));
  });

  it("agrees with the schema's pattern on any input", () => {
    const pattern = new RegExp(DURATION_PATTERN);
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(..."0123456789.nuµsmh -+e") }), (text) => {
        const parsed = parseDuration(text);
        if (pattern.test(text)) assert.ok(parsed === undefined || Number.isFinite(parsed), text);
        else assert.equal(parsed, undefined, text);
      }),
      { numRuns: 5000 },
    );
  });

  it("sums generated components exactly as Go does", () => {
    const component = fc.record({ n: fc.integer({ min: 0, max: 10_000 }), unit: fc.constantFrom(...UNITS) });
    fc.assert(
      fc.property(fc.array(component, { minLength: 1, maxLength: 5 }), (parts) => {
        const text = parts.map((p) => `${p.n}${p.unit[0]}`).join("");
        const expected = parts.reduce((sum, p) => sum + p.n * p.unit[1], 0);
        const got = parseDuration(text);
        assert.ok(got !== undefined && Math.abs(got - expected) <= 1e-9 * Math.max(1, expected), text);
      }),
    );
  });

  it("is accepted in resources", () => {
    const [route] = parseResources(
      `apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: r}
spec:
  hosts: [r]
  http: [{destinations: [{service: r}], timeout: 1m30s, retries: {attempts: 1, perTryTimeout: 500us}}]
`,
      "r.yaml",
    );
    assert.equal(route?.kind === "Route" ? route.spec.http[0]?.timeout : undefined, "1m30s");
  });
});

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { quantile } from "../../src/drill/load.ts";
import { parseSamples, requestCounts } from "../../src/drill/metrics.ts";
import { drillSchema } from "../../src/drill/spec.ts";
import { REPO_ROOT } from "../helpers/cli.ts";

const DRILLS = join(REPO_ROOT, "examples", "drills");

describe("drill files", () => {
  const files = readdirSync(DRILLS).filter((f) => {
    const doc = parse(readFileSync(join(DRILLS, f), "utf8")) as Record<string, unknown> | null;
    return doc !== null && "steps" in doc;
  });

  it("every shipped drill parses", () => {
    assert.equal(files.length, 6);
    for (const f of files) {
      const r = drillSchema.safeParse(parse(readFileSync(join(DRILLS, f), "utf8")));
      assert.ok(r.success, `${f}: ${r.success ? "" : JSON.stringify(r.error.issues[0])}`);
    }
  });

  const bad: [string, unknown, RegExp][] = [
    ["no steps", { name: "x", steps: [] }, /too_small|at least|>=1/i],
    ["an unknown step", { name: "x", steps: [{ reboot: "n1" }] }, /./],
    ["a bad duration", { name: "x", steps: [{ wait: "soon" }] }, /duration|union|invalid/i],
    [
      "load with both rate and concurrency",
      { name: "x", steps: [{ load: { via: "web", host: "r", rate: 1, concurrency: 1, duration: "1s" } }] },
      /./,
    ],
    ["load with neither", { name: "x", steps: [{ load: { via: "web", host: "r", duration: "1s" } }] }, /./],
    ["a bound with no min or max", { name: "x", steps: [{ check: [{ sidecar: "web", metric: "errorRate" }] }] }, /./],
    ["an unknown metric", { name: "x", steps: [{ check: [{ sidecar: "web", metric: "vibes", max: 1 }] }] }, /./],
    [
      "a path not starting with /",
      { name: "x", steps: [{ load: { via: "w", host: "r", path: "x", rate: 1, duration: "1s" } }] },
      /./,
    ],
  ];
  for (const [what, doc, message] of bad) {
    it(`refuses ${what}`, () => {
      const r = drillSchema.safeParse(doc);
      assert.equal(r.success, false);
      assert.match(JSON.stringify(r.error?.issues), message);
    });
  }
});

describe("drill measurements", () => {
  it("quantile is the nearest rank", () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(quantile(v, 0.5), 50);
    assert.equal(quantile(v, 0.99), 99);
    assert.equal(quantile([7], 0.99), 7);
    assert.equal(quantile([], 0.5), 0);
  });

  it("counts outbound requests, 5xx and fallbacks from a /metrics body, by destination", () => {
    const text = [
      "# HELP meshlet_requests_total x",
      'meshlet_requests_total{direction="outbound",destination_service="ratings",response_code="200",response_flags="UT,FB"} 3',
      'meshlet_requests_total{direction="outbound",destination_service="ratings",response_code="503",response_flags="UF"} 2',
      'meshlet_requests_total{direction="outbound",destination_service="reviews",response_code="200",response_flags="-"} 10',
      'meshlet_requests_total{direction="inbound",destination_service="ratings",response_code="500",response_flags="-"} 99',
      'meshlet_other{a="b"} 5',
    ].join("\n");
    const samples = parseSamples(text, new Set(["meshlet_requests_total"]));
    assert.equal(samples.length, 4);
    assert.deepEqual(requestCounts(samples, "ratings"), { requests: 5, errors: 2, fallbacks: 3 });
    assert.deepEqual(requestCounts(samples, undefined), { requests: 15, errors: 2, fallbacks: 3 });
  });
});

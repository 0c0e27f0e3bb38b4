import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Finding, formatFinding } from "../../src/config/finding.ts";
import { parseResources } from "../../src/config/load.ts";
import type { Resource } from "../../src/config/resources.ts";
import { admitResources } from "../../src/sidecar/admit.ts";

const parse = (text: string) => parseResources(text, "x.yaml");
const service = (name: string) => parse(`apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: ${name}}\n`);
const policy = (name: string, target: string, threshold = 50) =>
  parse(
    `apiVersion: meshlet.dev/v1\nkind: Policy\nmetadata: {name: ${name}}\nspec: {target: {service: ${target}}, circuitBreaker: {errorThresholdPercentage: ${threshold}}}\n`,
  );
const keys = (rs: readonly Resource[]) => rs.map((r) => `${r.kind}/${r.metadata.name}`).sort();
const byKey = (rs: readonly Resource[]) => new Map(rs.map((r) => [`${r.kind}/${r.metadata.name}`, r]));

describe("admitResources (per-resource rejection at the sidecar)", () => {
  it("a fresh sidecar leaves out the conflicting Policy and runs everything else", () => {
    const incoming = [...service("web"), ...service("ratings"), ...policy("a", "ratings"), ...policy("b", "ratings")];
    const out = admitResources(incoming, [], new Map(), {});
    assert.deepEqual(keys(out.resources), ["Policy/a", "Service/ratings", "Service/web"]);
    assert.deepEqual(
      out.rejected.map((f) => f.resource),
      ["Policy/b"],
    );
  });

  it("keeps the last good version of a refused resource, and takes the new version of the others", () => {
    const before = [...service("ratings"), ...service("x"), ...policy("b", "x", 10)];
    const incoming = [...service("ratings"), ...service("x"), ...policy("a", "ratings"), ...policy("b", "ratings")];
    const out = admitResources(incoming, [], byKey(before), {});
    const b = out.resources.find((r) => r.metadata.name === "b");
    assert.deepEqual(b?.kind === "Policy" ? b.spec.target : undefined, { service: "x" }, "b's last good version");
    assert.deepEqual(keys(out.resources), ["Policy/a", "Policy/b", "Service/ratings", "Service/x"]);
    assert.deepEqual(out.rejected.map(formatFinding), [
      "Policy/b spec.target: service/ratings is also the target of Policy/a, which keeps it (one Policy per target; the name that sorts first wins): merge them, or target a route",
    ]);
  });

  it("leaves out a last good version that conflicts again, and ends", () => {
    const before = [...policy("b", "ratings", 10)];
    const incoming = [...service("ratings"), ...policy("a", "ratings"), ...policy("b", "ratings", 20)];
    const out = admitResources(incoming, [], byKey(before), {});
    assert.deepEqual(keys(out.resources), ["Policy/a", "Service/ratings"]);
  });

  it("runs the last good version of what the source could not read, and reports it", () => {
    const before = [...service("web"), ...service("ratings")];
    const unreadable: Finding = {
      code: "InvalidResource",
      severity: "error",
      resource: "Service/web",
      path: "spec",
      message: "unknown field(s): mirror",
    };
    const out = admitResources([...service("ratings")], [unreadable], byKey(before), {});
    assert.deepEqual(keys(out.resources), ["Service/ratings", "Service/web"]);
    assert.deepEqual(out.rejected, [unreadable]);
  });

  it("passes warnings through and refuses nothing for them", () => {
    const global = parse(
      "apiVersion: meshlet.dev/v1\nkind: Policy\nmetadata: {name: g}\nspec: {target: {service: ghost}, rateLimit: {requestsPerSecond: 5, scope: global}}\n",
    );
    const out = admitResources(global, [], new Map(), { redis: false });
    assert.deepEqual(out.rejected, []);
    assert.deepEqual(out.warnings.map((f) => f.code).sort(), ["GlobalRateLimitWithoutRedis", "ServiceNotFound"]);
  });
});

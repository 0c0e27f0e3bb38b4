import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, parseResources } from "../../src/config/load.ts";

function issuesOf(text: string, file = "routes.yaml"): string[] {
  try {
    parseResources(text, file);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message.split("\n");
  }
  assert.fail("expected a ConfigError");
}

const route = (timeout: string) => `apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
    - destinations: [{service: reviews}]
      timeout: ${timeout}
`;

describe("parseResources", () => {
  it("accepts valid documents and fills defaults", () => {
    const [r] = parseResources(route("2s"), "routes.yaml");
    assert.ok(r?.kind === "Route");
    assert.equal(r.spec.http[0]?.timeout, "2s");
    assert.equal(r.spec.http[0]?.destinations[0]?.weight, 1);
  });

  it("names file, line, column, resource and field path", () => {
    assert.deepEqual(issuesOf(route("2x")), [
      'routes.yaml:8:16 Route/reviews spec.http[0].timeout: expected a duration like "1m30s", "1.5s", "250ms" or "500us"',
    ]);
  });

  it("reports YAML syntax errors with line and column", () => {
    const [line] = issuesOf("kind: [unclosed\n", "bad.yaml");
    assert.match(line ?? "", /^bad\.yaml:\d+:\d+ /);
  });

  it("rejects unknown fields instead of ignoring them", () => {
    const text = "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: a}\nspec: {endpoint: []}\n";
    assert.match(issuesOf(text).join("\n"), /Service\/a spec: unknown field\(s\): endpoint/);
  });

  it("points at an unknown field where it was written, not at the object holding it", () => {
    const text = route("2s").replace("      timeout: 2s\n", "      retries: {attempts: 1}\n      timout: 2s\n");
    assert.deepEqual(issuesOf(text), ["routes.yaml:9:7 Route/reviews spec.http[0]: unknown field(s): timout"]);
  });

  it("rejects unknown kinds", () => {
    const text = "apiVersion: meshlet.dev/v1\nkind: Gateway\nmetadata: {name: a}\n";
    assert.match(issuesOf(text).join("\n"), /Gateway\/a kind/);
  });

  it("rejects contradictory or out-of-range policies with the field path", () => {
    const policy = (name: string, spec: string) =>
      `apiVersion: meshlet.dev/v1\nkind: Policy\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
    const text = [
      policy("pct", "{target: {service: a}, circuitBreaker: {errorThresholdPercentage: 150}}"),
      policy("neg", "{target: {service: a}, rateLimit: {requestsPerSecond: -5}}"),
      policy("win", "{target: {service: a}, circuitBreaker: {errorThresholdPercentage: 50, rollingWindow: 0s}}"),
      policy("probe", "{target: {service: a}, circuitBreaker: {errorThresholdPercentage: 50, halfOpenRequests: 3}}"),
      policy("gkey", "{target: {service: a}, rateLimit: {requestsPerSecond: 5, scope: global, key: {header: k}}}"),
      policy("self", "{target: {service: a}, fallback: {on: [timeout], service: a}}"),
    ].join("---\n");
    const paths = issuesOf(text, "p.yaml").map((l) => l.replace(/^p\.yaml:\d+:\d+ /, "").split(":")[0]);
    assert.deepEqual(paths, [
      "Policy/pct spec.circuitBreaker.errorThresholdPercentage",
      "Policy/neg spec.rateLimit.requestsPerSecond",
      "Policy/win spec.circuitBreaker.rollingWindow",
      "Policy/probe spec.circuitBreaker.halfOpenRequests",
      "Policy/gkey spec.rateLimit.key",
      "Policy/self spec.fallback.service",
    ]);
  });

  it("rejects a maglev table size that is not a prime (it could never be filled)", () => {
    const svc = (size: number) =>
      `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: a}\nspec: {loadBalancer: {consistentHash: {header: k, algorithm: maglev, tableSize: ${size}}}}\n`;
    assert.match(
      issuesOf(svc(65_536)).join("\n"),
      /Service\/a spec\.loadBalancer\.consistentHash\.tableSize: must be a prime/,
    );
    assert.equal(parseResources(svc(65_537), "s.yaml").length, 1);
  });

  it("rejects duplicate names in one text and applies nothing", () => {
    const svc = "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: a}\n";
    assert.match(issuesOf(`${svc}---\n${svc}`).join("\n"), /Service\/a: duplicate resource/);
  });
});

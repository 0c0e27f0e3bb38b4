import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isCanonicalResource } from "../../src/config/canonical.ts";
import { ConfigError, formatIssue, parseResources } from "../../src/config/load.ts";

const route = (retries: string) =>
  `apiVersion: meshlet.dev/v1\nkind: Route\nmetadata: {name: r}\nspec:\n  hosts: [r]\n  http:\n    - destinations: [{service: r}]\n      retries: ${retries}\n`;
const policy = (spec: string) =>
  `apiVersion: meshlet.dev/v1\nkind: Policy\nmetadata: {name: p}\nspec:\n  target: {service: s}\n  ${spec}\n`;
const staticGrpc = (grpc: string) => policy(`fallback: {on: [circuitOpen], static: {grpc: ${grpc}}}`);

/** The parse error's lines (file:line:col resource path: message), or the parsed resources. */
function parse(text: string): { errors: string } | { ok: unknown[] } {
  try {
    return { ok: parseResources(text, "mesh.yaml") };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { errors: err.issues.map(formatIssue).join("\n") };
  }
}

function refuses(text: string, message: RegExp): void {
  const r = parse(text);
  assert.ok("errors" in r, `accepted:\n${text}`);
  assert.match(r.errors, message);
}

function accepts(text: string): Record<string, unknown> {
  const r = parse(text);
  assert.ok("ok" in r, "errors" in r ? r.errors : "");
  const [res] = r.ok;
  // What the control plane stores (defaults filled) is what a sidecar accepts without the schema.
  assert.ok(isCanonicalResource(res), JSON.stringify(res));
  return res as Record<string, unknown>;
}

describe("retries.idempotent", () => {
  it("defaults to false and takes a boolean", () => {
    const plain = accepts(route("{attempts: 2}")) as { spec: { http: { retries: { idempotent: boolean } }[] } };
    assert.equal(plain.spec.http[0]?.retries.idempotent, false);
    const on = accepts(route("{attempts: 2, retryOn: [unavailable], idempotent: true}")) as typeof plain;
    assert.equal(on.spec.http[0]?.retries.idempotent, true);
  });

  it("refuses a non-boolean, naming the field", () => {
    refuses(route('{attempts: 2, idempotent: "yes"}'), /retries\.idempotent.*expected boolean/);
  });
});

describe("fallback.static.grpc", () => {
  it("takes a status with a message, or status 0 with a base64 response", () => {
    accepts(staticGrpc('{status: 14, message: "resting"}'));
    accepts(staticGrpc("{status: 0, response: CgZjYW5uZWQ=}"));
    accepts(staticGrpc("{status: 0}"));
  });

  const bad: [string, string, RegExp][] = [
    ["a status past 16", "{status: 17}", /grpc\.status.*16/],
    ["a negative status", "{status: -1}", /grpc\.status.*0/],
    ["no status", "{message: x}", /grpc\.status/],
    [
      "a response with a failure status",
      "{status: 14, response: CgZjYW5uZWQ=}",
      /response message goes with status 0 \(OK\) only/,
    ],
    ["a response that is not base64", '{status: 0, response: "not base64!"}', /grpc\.response.*expected base64/],
    ["unpadded base64", "{status: 0, response: CgZjYW5uZWQ}", /expected base64/],
    ["a response past 64 KiB", `{status: 0, response: ${"A".repeat(87_388)}}`, /at most 65536 bytes/],
    ["an unknown field", "{status: 0, body: x}", /unknown field\(s\): body/],
    ["a message past 1024 characters", `{status: 2, message: ${"m".repeat(1025)}}`, /grpc\.message.*1024/],
  ];
  for (const [what, grpc, message] of bad) {
    it(`refuses ${what}`, () => refuses(staticGrpc(grpc), message));
  }
});

describe("healthCheck.grpc", () => {
  it("takes a gRPC check (service defaults to the whole server) or an HTTP one", () => {
    const g = accepts(policy("healthCheck: {grpc: {}}")) as { spec: { healthCheck: Record<string, unknown> } };
    assert.deepEqual(g.spec.healthCheck.grpc, { service: "" });
    assert.equal(g.spec.healthCheck.path, undefined);
    accepts(policy("healthCheck: {grpc: {service: greeter.Greeter}, interval: 2s}"));
    accepts(policy("healthCheck: {path: /healthz}"));
  });

  it("refuses both or neither of path and grpc with a clear message", () => {
    const either = /set exactly one of path \(an HTTP check\) and grpc \(a grpc\.health\.v1 check\)/;
    refuses(policy("healthCheck: {path: /healthz, grpc: {service: x}}"), either);
    refuses(policy("healthCheck: {interval: 5s}"), either);
    refuses(policy("healthCheck: {grpc: {service: x, port: 1}}"), /unknown field\(s\): port/);
    refuses(policy("healthCheck: {grpc: {service: 7}}"), /grpc\.service.*expected string/);
  });

  it("the sidecar's schema-free check refuses what the schema refuses (both, neither, a response with a failure)", () => {
    const hc = accepts(policy("healthCheck: {grpc: {}}")) as { spec: { healthCheck: Record<string, unknown> } };
    const both = structuredClone(hc);
    both.spec.healthCheck.path = "/healthz";
    assert.equal(isCanonicalResource(both), false);
    const neither = structuredClone(hc);
    delete neither.spec.healthCheck.grpc;
    assert.equal(isCanonicalResource(neither), false);
    const fb = accepts(staticGrpc("{status: 14}")) as {
      spec: { fallback: { static: { grpc: Record<string, unknown> } } };
    };
    fb.spec.fallback.static.grpc.response = "CgZjYW5uZWQ=";
    assert.equal(isCanonicalResource(fb), false);
  });
});

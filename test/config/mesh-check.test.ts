import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { formatFinding } from "../../src/config/finding.ts";
import { parseResources } from "../../src/config/load.ts";
import { checkMesh, ERROR_KINDS, errorsOf } from "../../src/config/mesh-check.ts";
import type { Resource } from "../../src/config/resources.ts";

const policy = (name: string, target: string, extra = "") =>
  parseResources(
    `apiVersion: meshlet.dev/v1\nkind: Policy\nmetadata: {name: ${name}}\nspec: {target: {service: ${target}}${extra}}\n`,
    "p.yaml",
  );
const peerAuth = (name: string, namespace?: string) =>
  parseResources(
    `apiVersion: meshlet.dev/v1\nkind: PeerAuthentication\nmetadata: {name: ${name}}\nspec: {${namespace === undefined ? "" : `namespace: ${namespace}, `}mtls: {mode: PERMISSIVE}}\n`,
    "pa.yaml",
  );
const service = (name: string) =>
  parseResources(`apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: ${name}}\n`, "s.yaml");

describe("checkMesh (the control plane's and every sidecar's check)", () => {
  it("refuses a second Policy on one target, naming the one that keeps it", () => {
    const resources = [...service("ratings"), ...policy("b", "ratings"), ...policy("a", "ratings")];
    const errors = errorsOf(checkMesh(resources));
    assert.deepEqual(errors.map(formatFinding), [
      "Policy/b spec.target: service/ratings is also the target of Policy/a, which keeps it (one Policy per target; the name that sorts first wins): merge them, or target a route",
    ]);
    assert.deepEqual(errors[0]?.related, ["Policy/a"]);
    assert.equal(errors[0]?.code, "PolicyConflict");
  });

  it("keeps the same Policy whatever order the resources arrive in", () => {
    const all: Resource[] = [...service("x"), ...policy("p1", "x"), ...policy("p2", "x"), ...policy("p3", "x")];
    fc.assert(
      fc.property(fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length }), (order) => {
        assert.deepEqual(
          errorsOf(checkMesh(order))
            .map((f) => f.resource)
            .sort(),
          ["Policy/p2", "Policy/p3"],
        );
      }),
    );
  });

  it("does not count a route target and a service target of the same name as one target", () => {
    const route = parseResources(
      "apiVersion: meshlet.dev/v1\nkind: Policy\nmetadata: {name: r}\nspec: {target: {route: x}}\n",
      "p.yaml",
    );
    assert.deepEqual(errorsOf(checkMesh([...service("x"), ...policy("s", "x"), ...route])), []);
  });

  it("refuses a second PeerAuthentication for the mesh, and for one namespace, naming the one that keeps it", () => {
    const resources = [
      ...peerAuth("mesh-b"),
      ...peerAuth("mesh-a"),
      ...peerAuth("prod-z", "prod"),
      ...peerAuth("prod-y", "prod"),
    ];
    const errors = errorsOf(checkMesh(resources));
    assert.deepEqual(errors.map(formatFinding), [
      "PeerAuthentication/mesh-b spec: the whole mesh also gets its mTLS mode from PeerAuthentication/mesh-a, which keeps it (one PeerAuthentication per namespace and one without a namespace; the name that sorts first wins): delete one of them",
      'PeerAuthentication/prod-z spec.namespace: namespace "prod" also gets its mTLS mode from PeerAuthentication/prod-y, which keeps it (one PeerAuthentication per namespace and one without a namespace; the name that sorts first wins): delete one of them',
    ]);
    assert.deepEqual(
      errors.map((e) => [e.code, e.related]),
      [
        ["PeerAuthenticationConflict", ["PeerAuthentication/mesh-a"]],
        ["PeerAuthenticationConflict", ["PeerAuthentication/prod-y"]],
      ],
    );
  });

  it("takes one PeerAuthentication for the mesh and one per namespace", () => {
    const resources = [...peerAuth("mesh"), ...peerAuth("prod", "prod"), ...peerAuth("dev", "dev")];
    assert.deepEqual(errorsOf(checkMesh(resources)), []);
  });

  it("warns about a global limit without Redis, in the words of whoever checks", () => {
    const global = policy("g", "x", ", rateLimit: {requestsPerSecond: 5, scope: global}");
    const at = (redis?: boolean) =>
      checkMesh([...service("x"), ...global], redis === undefined ? {} : { redis }).map(
        (f) => `${f.severity} ${f.code} ${f.message}`,
      );
    assert.match(at()[0] ?? "", /^warning GlobalRateLimitWithoutRedis .*every calling sidecar started with --redis/);
    assert.match(at(false)[0] ?? "", /^warning GlobalRateLimitWithoutRedis .*this sidecar limits locally/);
    assert.deepEqual(at(true), []);
  });

  it("reports dangling references as warnings, never errors", () => {
    const findings = checkMesh(policy("p", "ghost"));
    assert.deepEqual(
      findings.map((f) => `${f.severity} ${f.code}`),
      ["warning ServiceNotFound"],
    );
  });

  it("finds errors only in the kinds ERROR_KINDS names (the control plane checks changes to those only)", () => {
    const names = ["a", "b", "c"];
    const resource = fc.oneof(
      fc.constantFrom(...names).map((n) => service(n)[0] as Resource),
      fc
        .record({ n: fc.constantFrom(...names), to: fc.constantFrom(...names) })
        .map(({ n, to }) => policy(`p-${n}`, to)[0] as Resource),
      fc
        .record({ n: fc.constantFrom(...names), to: fc.constantFrom(...names), host: fc.constantFrom(...names) })
        .map(
          ({ n, to, host }) =>
            parseResources(
              `apiVersion: meshlet.dev/v1\nkind: Route\nmetadata: {name: r-${n}}\nspec: {hosts: [${host}], http: [{destinations: [{service: ${to}}]}]}\n`,
              "r.yaml",
            )[0] as Resource,
        ),
      fc
        .record({ n: fc.constantFrom(...names), ns: fc.constantFrom(undefined, "a", "b") })
        .map(({ n, ns }) => peerAuth(`pa-${n}`, ns)[0] as Resource),
    );
    fc.assert(
      fc.property(
        fc.uniqueArray(resource, { selector: (r) => `${r.kind}/${r.metadata.name}`, maxLength: 12 }),
        (rs) => {
          const only = rs.filter((r) => ERROR_KINDS.has(r.kind));
          assert.deepEqual(errorsOf(checkMesh(rs)), errorsOf(checkMesh(only)));
        },
      ),
    );
  });
});

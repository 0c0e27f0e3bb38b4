import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { analyzeMesh, covers, shadowedRules } from "../../src/config/analyze.ts";
import { formatFinding } from "../../src/config/finding.ts";
import { parseResources } from "../../src/config/load.ts";
import type { RouteMatch } from "../../src/config/resources.ts";

const parse = (text: string) => parseResources(text, "a.yaml");
const route = (name: string, rules: string, hosts = "[reviews]") =>
  parse(
    `apiVersion: meshlet.dev/v1\nkind: Route\nmetadata: {name: ${name}}\nspec:\n  hosts: ${hosts}\n  http:\n${rules}`,
  );
const SVC = parse("apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: reviews}\n");

describe("meshlet analyze: rules that never match", () => {
  it("finds a rule after a catch-all, and one whose every match an earlier match covers", () => {
    const r = route(
      "reviews",
      `    - match: [{pathPrefix: /api}]
      destinations: [{service: reviews}]
    - match: [{pathPrefix: /api/v1, headers: {x-canary: "true"}}, {path: /api/x}]
      destinations: [{service: reviews}]
    - match: [{pathPrefix: /other}, {pathPrefix: /api/v2}]
      destinations: [{service: reviews}]
    - destinations: [{service: reviews}]
    - match: [{pathPrefix: /late}]
      destinations: [{service: reviews}]
`,
    );
    assert.deepEqual(shadowedRules([...SVC, ...r]).map(formatFinding), [
      'Route/reviews spec.http[1]: never matches for host "reviews": Route/reviews spec.http[0], tried earlier, takes every request it would',
      'Route/reviews spec.http[4]: never matches for host "reviews": Route/reviews spec.http[3], tried earlier, takes every request it would',
    ]);
  });

  it("looks across Routes sharing a host, in the order of their names", () => {
    const a = route("a-catchall", "    - destinations: [{service: reviews}]\n");
    const b = route(
      "b-canary",
      "    - match: [{headers: {x-canary: {exact: 'true'}}}]\n      destinations: [{service: reviews}]\n",
    );
    const [finding] = shadowedRules([...b, ...a]);
    assert.equal(finding?.resource, "Route/b-canary");
    assert.deepEqual(finding?.related, ["Route/a-catchall"]);
  });

  it("does not report a rule an earlier one only partly covers", () => {
    const r = route(
      "reviews",
      `    - match: [{pathPrefix: /api, methods: [GET]}]
      destinations: [{service: reviews}]
    - match: [{pathPrefix: /api}]
      destinations: [{service: reviews}]
    - match: [{headers: {x-user: {prefix: ab}}}]
      destinations: [{service: reviews}]
    - match: [{headers: {x-user: {prefix: a}}}]
      destinations: [{service: reviews}]
`,
    );
    assert.deepEqual(shadowedRules([...SVC, ...r]), []);
  });

  it("judges coverage soundly: a match never covers one that accepts a request it refuses", () => {
    const paths = ["/", "/a", "/a/b", "/b"];
    const values = ["", "a", "ab", "b"];
    const path = fc.oneof(
      fc.constant({}),
      fc.constantFrom(...paths).map((p) => ({ path: p })),
      fc.constantFrom(...paths).map((p) => ({ pathPrefix: p })),
    );
    const header = fc.oneof(
      fc.constantFrom(...values),
      fc.constantFrom(...values).map((v) => ({ prefix: v })),
      fc.boolean().map((present) => ({ present })),
    );
    const match = fc
      .record({
        p: path,
        h: fc.option(header, { nil: undefined }),
        m: fc.option(fc.constantFrom<string[]>(["GET"], ["GET", "POST"]), { nil: undefined }),
      })
      .map(
        ({ p, h, m }): RouteMatch => ({
          ...p,
          ...(h === undefined ? {} : { headers: { "x-h": h } }),
          ...(m === undefined ? {} : { methods: m }),
        }),
      );
    // Every request of a small universe: if a covers b, whatever b accepts a accepts.
    const accepts = (m: RouteMatch, req: { path: string; method: string; h: string | undefined }) => {
      if (m.path !== undefined && req.path !== m.path) return false;
      if (m.pathPrefix !== undefined && !req.path.startsWith(m.pathPrefix)) return false;
      if (m.methods !== undefined && !m.methods.includes(req.method)) return false;
      const hm = m.headers?.["x-h"];
      if (hm === undefined) return true;
      if (typeof hm === "string") return req.h === hm;
      if ("prefix" in hm) return req.h?.startsWith(hm.prefix) === true;
      if ("present" in hm) return (req.h !== undefined) === hm.present;
      return false;
    };
    const requests = paths.flatMap((p) =>
      ["GET", "POST", "PUT"].flatMap((method) => [undefined, ...values].map((h) => ({ path: p, method, h }))),
    );
    fc.assert(
      fc.property(match, match, (a, b) => {
        if (!covers(a, b)) return;
        for (const req of requests) if (accepts(b, req)) assert.ok(accepts(a, req), JSON.stringify({ a, b, req }));
      }),
      { numRuns: 3000 },
    );
  });
});

describe("meshlet analyze: nothing to act on", () => {
  it("warns about a policy whose service has no endpoint, and a subset no endpoint has", () => {
    const resources = [
      ...SVC,
      ...parse(
        "apiVersion: meshlet.dev/v1\nkind: Policy\nmetadata: {name: p}\nspec: {target: {service: reviews}, circuitBreaker: {errorThresholdPercentage: 50}}\n",
      ),
      ...route("reviews", "    - destinations: [{service: reviews, subset: {version: v3}}]\n"),
    ];
    const none = analyzeMesh(resources, { endpoints: new Map() }).map((f) => `${f.severity} ${f.code} ${f.resource}`);
    assert.deepEqual(none, ["warning NoEndpoints Policy/p", "info DestinationNoEndpoints Route/reviews"]);
    const some = analyzeMesh(resources, { endpoints: new Map([["reviews", [{ version: "v1" }]]]) });
    assert.deepEqual(
      some.map((f) => `${f.code} ${f.path}`),
      ["SubsetNoEndpoints spec.http[0].destinations[0].subset"],
    );
    assert.match(some[0]?.message ?? "", /labels version=v3/);
    assert.deepEqual(analyzeMesh(resources), [], "endpoints unknown (files alone): nothing said about them");
  });
});

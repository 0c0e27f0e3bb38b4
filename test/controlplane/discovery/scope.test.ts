import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseResources } from "../../../src/config/load.ts";
import { computeScope } from "../../../src/controlplane/discovery/scope.ts";

const header = "apiVersion: meshlet.dev/v1\n";
const svc = (n: string) => `${header}kind: Service\nmetadata: {name: ${n}}\n`;
const route = (n: string, host: string, to: string[]) =>
  `${header}kind: Route\nmetadata: {name: ${n}}\nspec: {hosts: [${host}], http: [{destinations: [${to.map((s) => `{service: ${s}}`).join(", ")}]}]}\n`;
const policy = (n: string, target: string, fallback?: string) =>
  `${header}kind: Policy\nmetadata: {name: ${n}}\nspec: {target: {${target}}${fallback === undefined ? "" : `, fallback: {on: [timeout], service: ${fallback}}`}}\n`;

const all = parseResources(
  [
    svc("web"),
    svc("reviews"),
    svc("reviews-v2"),
    svc("ratings"),
    svc("ratings-cache"),
    svc("unrelated"),
    route("reviews", "reviews", ["reviews", "reviews-v2"]),
    route("ratings", "ratings", ["ratings"]),
    route("other", "unrelated", ["unrelated"]),
    policy("reviews-breaker", "route: reviews"),
    policy("ratings-fallback", "service: ratings", "ratings-cache"),
    policy("unrelated-limit", "service: unrelated"),
  ].join("---\n"),
  "all.yaml",
);

const sorted = (s: Set<string>) => [...s].sort();

describe("computeScope", () => {
  it("own service + subscribed services + everything their routes and fallbacks reach", () => {
    const scope = computeScope(all, { service: "web", subscribe: ["reviews", "ratings"] });
    assert.deepEqual(sorted(scope.services), ["ratings", "ratings-cache", "reviews", "reviews-v2", "web"]);
    assert.deepEqual(sorted(scope.routes), ["ratings", "reviews"]);
    assert.deepEqual(sorted(scope.policies), ["ratings-fallback", "reviews-breaker"]);
  });

  it("a sidecar that subscribes to nothing gets its own service and what targets it", () => {
    const scope = computeScope(all, { service: "ratings", subscribe: [] });
    assert.deepEqual(sorted(scope.services), ["ratings", "ratings-cache"]);
    assert.deepEqual(sorted(scope.routes), ["ratings"]);
  });

  it('"*" selects everything', () => {
    const scope = computeScope(all, { service: "web", subscribe: ["*"] });
    assert.equal(scope.services.size, 6);
    assert.equal(scope.routes.size, 3);
    assert.equal(scope.policies.size, 3);
  });
});

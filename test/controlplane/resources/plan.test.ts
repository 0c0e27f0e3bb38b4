import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseResources } from "../../../src/config/load.ts";
import { canonicalJson } from "../../../src/controlplane/resources/canonical.ts";
import { resourceKey } from "../../../src/controlplane/resources/keys.ts";
import { formatPlanned, planApply, type StoredResource } from "../../../src/controlplane/resources/plan.ts";

const svc = (name: string, port: number) =>
  `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {ports: [{port: ${port}}]}\n`;

function stored(text: string): Map<string, StoredResource> {
  const out = new Map<string, StoredResource>();
  parseResources(text, "s.yaml").forEach((resource, i) => {
    out.set(resourceKey(resource.kind, resource.metadata.name), { resource, revision: i + 1 });
  });
  return out;
}

describe("planApply", () => {
  it("classifies each resource as created, configured or unchanged and writes only changes", () => {
    const current = stored(`${svc("a", 80)}---\n${svc("b", 80)}`);
    const plan = planApply(current, parseResources(`${svc("a", 80)}---\n${svc("b", 81)}---\n${svc("c", 80)}`, "x"));
    assert.deepEqual(
      plan.results.map((p) => formatPlanned(p)),
      ["service/a unchanged", "service/b configured", "service/c created"],
    );
    assert.deepEqual(
      plan.writes.map((w) => w.key),
      ["mesh/resources/Service/b", "mesh/resources/Service/c"],
    );
    assert.equal(JSON.parse(plan.writes[0]?.value ?? "{}").spec.ports[0].port, 81);
  });

  it("treats field order as irrelevant", () => {
    const current = stored(svc("a", 80));
    const reordered = "kind: Service\nspec: {ports: [{port: 80}]}\nmetadata: {name: a}\napiVersion: meshlet.dev/v1\n";
    assert.equal(planApply(current, parseResources(reordered, "x")).results[0]?.action, "unchanged");
    assert.equal(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] }), '{"a":[{"c":2,"d":1}],"b":1}');
  });

  it("checks references against the state after the apply", () => {
    const route =
      "apiVersion: meshlet.dev/v1\nkind: Route\nmetadata: {name: r}\nspec: {hosts: [a], http: [{destinations: [{service: a}]}]}\n";
    assert.equal(planApply(new Map(), parseResources(route, "x")).warnings.length, 1);
    assert.deepEqual(planApply(stored(svc("a", 80)), parseResources(route, "x")).warnings, []);
  });
});

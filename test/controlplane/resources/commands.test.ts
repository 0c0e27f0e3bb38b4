import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseResources } from "../../../src/config/load.ts";
import type { Resource } from "../../../src/config/resources.ts";
import { applyResourceCommand, type ResourceCommand } from "../../../src/controlplane/resources/commands.ts";
import { MemoryKv } from "../registry/memory-kv.ts";

const svc = (name: string, port = 80) =>
  parseResources(
    `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {ports: [{port: ${port}}]}\n`,
    "s",
  );

function run(kv: MemoryKv, command: ResourceCommand): unknown {
  const { ops, result } = applyResourceCommand(kv, command);
  kv.apply(ops);
  return result;
}

const code = (e: unknown) => (e as { code?: string }).code;

describe("resource commands", () => {
  it("an apply writes all its changes in one revision and re-plans against the stored state", () => {
    const kv = new MemoryKv();
    run(kv, { type: "mesh.apply", resources: [...svc("a"), ...svc("b")] });
    assert.equal(kv.revision, 1);
    assert.deepEqual(run(kv, { type: "mesh.apply", resources: [...svc("a"), ...svc("b", 81)] }), [
      { kind: "Service", name: "a", action: "unchanged" },
      { kind: "Service", name: "b", action: "configured" },
    ]);
    assert.deepEqual(
      kv.range("mesh/resources/").map((e) => [e.key, e.revision]),
      [
        ["mesh/resources/Service/a", 1],
        ["mesh/resources/Service/b", 2],
      ],
    );
  });

  it("PUT and DELETE compare revisions; 0 means create only", () => {
    const kv = new MemoryKv();
    const [a] = svc("a");
    assert.ok(a !== undefined);
    run(kv, { type: "mesh.resource.put", resource: a, ifRevision: 0 });
    assert.throws(
      () => run(kv, { type: "mesh.resource.put", resource: a, ifRevision: 0 }),
      (e) => code(e) === "ERR_REVISION_MISMATCH",
    );
    assert.throws(
      () => run(kv, { type: "mesh.resource.delete", kind: "Service", name: "a", ifRevision: 7 }),
      (e) => code(e) === "ERR_REVISION_MISMATCH",
    );
    assert.deepEqual(run(kv, { type: "mesh.resource.delete", kind: "Service", name: "a", ifRevision: 1 }), {
      deleted: true,
    });
    assert.throws(
      () => run(kv, { type: "mesh.resource.delete", kind: "Service", name: "a" }),
      (e) => code(e) === "ERR_NOT_FOUND",
    );
  });

  it("refuses, at its index, a change that raced another into a conflict sidecars would refuse", () => {
    const kv = new MemoryKv();
    const policy = (name: string) =>
      parseResources(
        `apiVersion: meshlet.dev/v1\nkind: Policy\nmetadata: {name: ${name}}\nspec: {target: {service: x}}\n`,
        "p",
      );
    // Both were checked against the state before either: the second one ordered is refused here.
    run(kv, { type: "mesh.apply", resources: policy("a") });
    const revision = kv.revision;
    assert.throws(
      () => run(kv, { type: "mesh.apply", resources: policy("b") }),
      (e: unknown) =>
        code(e) === "ERR_CONFIG_REJECTED" &&
        /Policy\/b spec\.target: service\/x is also the target of Policy\/a/.test(String(e)),
    );
    assert.throws(() => run(kv, { type: "mesh.resource.put", resource: policy("b")[0] as Resource }), {
      code: "ERR_CONFIG_REJECTED",
    });
    assert.equal(kv.revision, revision, "nothing written");
  });

  it("reads nothing for a change that cannot add an error (no Policy written or deleted)", () => {
    const kv = new MemoryKv();
    let ranged: string[] = [];
    const spy = {
      get: (k: string) => kv.get(k),
      range: (prefix: string) => {
        ranged.push(prefix);
        return kv.range(prefix);
      },
    };
    const { ops } = applyResourceCommand(spy, { type: "mesh.apply", resources: svc("a") });
    kv.apply(ops);
    assert.deepEqual(ranged, []);
    ranged = [];
    applyResourceCommand(spy, {
      type: "mesh.apply",
      resources: parseResources(
        "apiVersion: meshlet.dev/v1\nkind: Policy\nmetadata: {name: p}\nspec: {target: {service: a}}\n",
        "p",
      ),
    });
    assert.deepEqual(ranged, ["mesh/resources/Policy/"]);
  });
});

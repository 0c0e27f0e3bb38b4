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

  it("refuses a second PeerAuthentication for the mesh or a namespace, naming both; one per namespace is fine", () => {
    const kv = new MemoryKv();
    const pa = (name: string, namespace?: string) =>
      parseResources(
        `apiVersion: meshlet.dev/v1\nkind: PeerAuthentication\nmetadata: {name: ${name}}\nspec: {${namespace === undefined ? "" : `namespace: ${namespace}, `}mtls: {mode: PERMISSIVE}}\n`,
        "pa",
      );
    run(kv, { type: "mesh.apply", resources: [...pa("mesh"), ...pa("prod", "prod"), ...pa("dev", "dev")] });
    const revision = kv.revision;
    assert.throws(
      () => run(kv, { type: "mesh.apply", resources: pa("mesh-too") }),
      (e: unknown) =>
        code(e) === "ERR_CONFIG_REJECTED" &&
        /PeerAuthentication\/mesh-too spec: the whole mesh also gets its mTLS mode from PeerAuthentication\/mesh,/.test(
          String(e),
        ),
    );
    // The newcomer sorts first, so the stored one is the one refused: the message still names both.
    assert.throws(
      () => run(kv, { type: "mesh.resource.put", resource: pa("a-prod", "prod")[0] as Resource }),
      (e: unknown) =>
        code(e) === "ERR_CONFIG_REJECTED" &&
        /PeerAuthentication\/prod spec\.namespace: namespace "prod" also gets its mTLS mode from PeerAuthentication\/a-prod/.test(
          String(e),
        ),
    );
    assert.equal(kv.revision, revision, "nothing written");
    // Moving one to a free namespace is a change like any other.
    assert.deepEqual(run(kv, { type: "mesh.apply", resources: pa("dev", "staging") }), [
      { kind: "PeerAuthentication", name: "dev", action: "configured" },
    ]);
  });

  it("reads nothing for a change that cannot add an error (no Policy or PeerAuthentication written or deleted)", () => {
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
    // Only the kinds the error rules read (ERROR_KINDS).
    assert.deepEqual(ranged, ["mesh/resources/Policy/", "mesh/resources/PeerAuthentication/"]);
  });
});

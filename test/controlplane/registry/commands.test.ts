import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  applyRegistryCommand,
  type RegisteredEndpoint,
  type RegistryCommand,
} from "../../../src/controlplane/registry/commands.ts";
import { MemoryKv } from "./memory-kv.ts";

const ep = (instance: string, leaseId: string, service = "reviews"): RegisteredEndpoint => ({
  service,
  instance,
  address: "127.0.0.1",
  port: 9000,
  labels: { version: "v1" },
  weight: 1,
  leaseId,
});

function run(kv: MemoryKv, command: RegistryCommand): unknown {
  const { ops, result } = applyRegistryCommand(kv, command);
  kv.apply(ops);
  return result;
}

const keys = (kv: MemoryKv) => [...kv.data.keys()].sort();

describe("registry commands", () => {
  it("register attaches the endpoint to its lease; expiry removes both", () => {
    const kv = new MemoryKv();
    run(kv, { type: "mesh.register", endpoint: ep("i1", "L1"), ttlMs: 15_000 });
    run(kv, { type: "mesh.register", endpoint: ep("i2", "L2"), ttlMs: 15_000 });
    assert.deepEqual(keys(kv), [
      "mesh/endpoints/reviews/i1",
      "mesh/endpoints/reviews/i2",
      "mesh/leases/L1",
      "mesh/leases/L2",
    ]);
    const result = run(kv, { type: "mesh.lease.expire", leaseIds: ["L1", "unknown"] });
    assert.deepEqual(result, { removed: ["mesh/endpoints/reviews/i1"] });
    assert.deepEqual(keys(kv), ["mesh/endpoints/reviews/i2", "mesh/leases/L2"]);
  });

  it("re-registering under a new lease leaves the old lease", () => {
    const kv = new MemoryKv();
    run(kv, { type: "mesh.register", endpoint: ep("i1", "L1"), ttlMs: 15_000 });
    run(kv, { type: "mesh.register", endpoint: ep("i1", "L2"), ttlMs: 15_000 });
    assert.deepEqual(keys(kv), ["mesh/endpoints/reviews/i1", "mesh/leases/L2"]);
    run(kv, { type: "mesh.lease.revoke", leaseId: "L1" });
    assert.ok(kv.get("mesh/endpoints/reviews/i1") !== undefined, "revoking a stale lease must not remove the endpoint");
  });

  it("deregister removes the endpoint at once and an emptied lease with it", () => {
    const kv = new MemoryKv();
    run(kv, { type: "mesh.register", endpoint: ep("i1", "L1"), ttlMs: 15_000 });
    run(kv, { type: "mesh.register", endpoint: ep("i1", "L1", "ratings"), ttlMs: 15_000 });
    assert.deepEqual(run(kv, { type: "mesh.deregister", service: "reviews", instance: "i1" }), { removed: true });
    assert.deepEqual(JSON.parse(kv.get("mesh/leases/L1") ?? "{}").keys, ["mesh/endpoints/ratings/i1"]);
    run(kv, { type: "mesh.deregister", service: "ratings", instance: "i1" });
    assert.deepEqual(keys(kv), []);
    assert.deepEqual(run(kv, { type: "mesh.deregister", service: "ratings", instance: "i1" }), { removed: false });
  });

  it("rejects identities that would break the key space, writing nothing", () => {
    const kv = new MemoryKv();
    for (const bad of [ep("a/b", "L1"), ep("i1", "L1", ""), { ...ep("i1", "L1"), port: 0 }]) {
      assert.throws(
        () => applyRegistryCommand(kv, { type: "mesh.register", endpoint: bad, ttlMs: 15_000 }),
        (e: unknown) => (e as { code?: string }).code === "ERR_INVALID_REGISTRATION",
      );
    }
    assert.throws(() => applyRegistryCommand(kv, { type: "mesh.register", endpoint: ep("i1", "L1"), ttlMs: 5 }));
    assert.deepEqual(keys(kv), []);
  });
});

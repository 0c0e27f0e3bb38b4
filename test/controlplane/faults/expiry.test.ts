import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import { silentLogger } from "../../../src/common/logger.ts";
import type { FaultExperiment } from "../../../src/config/resources.ts";
import { applyFaultCommand, type FaultCommand } from "../../../src/controlplane/faults/commands.ts";
import { FaultExpiryLoop } from "../../../src/controlplane/faults/expiry.ts";
import { resourceKey } from "../../../src/controlplane/resources/keys.ts";
import { MemoryKv } from "../registry/memory-kv.ts";

function experiment(name: string, deadline: number): FaultExperiment {
  return {
    apiVersion: "meshlet.dev/v1",
    kind: "FaultExperiment",
    metadata: { name },
    spec: { target: { service: "ratings" }, kind: "reset", side: "outbound", percent: 100, duration: "10s" },
    status: { deadline, startedAt: deadline - 10_000, startedBy: "test" },
  };
}

function store(kv: MemoryKv, e: FaultExperiment): void {
  kv.apply([{ op: "put", key: resourceKey("FaultExperiment", e.metadata.name), value: JSON.stringify(e) }]);
}

const names = (kv: MemoryKv) => kv.range("mesh/resources/FaultExperiment/").map((e) => e.key.split("/").at(-1));

describe("fault commands", () => {
  it("expire deletes only experiments whose stored deadline is at or before `at`", () => {
    const kv = new MemoryKv();
    store(kv, experiment("due", 1_000));
    store(kv, experiment("later", 2_000));
    const { ops, result } = applyFaultCommand(kv, {
      type: "mesh.fault.expire",
      names: ["due", "later", "gone"],
      at: 1_000,
    });
    kv.apply(ops);
    assert.deepEqual(result.removed, ["due"]);
    assert.deepEqual(names(kv), ["later"]);
  });

  it("a late expire entry leaves an experiment started again under the same name alone", () => {
    const kv = new MemoryKv();
    store(kv, experiment("e", 5_000));
    const { ops } = applyFaultCommand(kv, { type: "mesh.fault.expire", names: ["e"], at: 1_000 });
    assert.deepEqual(ops, []);
  });

  it("stop deletes the named experiments that exist, whatever their deadline", () => {
    const kv = new MemoryKv();
    store(kv, experiment("a", 9e15));
    store(kv, experiment("b", 9e15));
    const { ops, result } = applyFaultCommand(kv, { type: "mesh.fault.stop", names: ["a", "b", "c"] });
    kv.apply(ops);
    assert.deepEqual(result.removed, ["a", "b"]);
    assert.deepEqual(names(kv), []);
  });
});

describe("fault expiry loop", () => {
  /** Two nodes' loops over one replicated state; `leader` says which one leads. */
  function twoNodes(wall: { now: number }) {
    const kv = new MemoryKv();
    const clock = new FakeClock();
    let leader = "a";
    const proposed: { by: string; command: FaultCommand }[] = [];
    const loop = (id: string) =>
      new FaultExpiryLoop({
        clock,
        wallNow: () => wall.now,
        isLeader: () => leader === id,
        view: () => kv,
        propose: async (command) => {
          proposed.push({ by: id, command });
          const { ops, result } = applyFaultCommand(kv, command);
          kv.apply(ops);
          return result;
        },
        logger: silentLogger(),
        checkMs: 100,
      });
    return {
      kv,
      clock,
      proposed,
      a: loop("a"),
      b: loop("b"),
      lead: (id: string) => {
        leader = id;
      },
    };
  }

  it("a new leader expires the experiment at the stored deadline: neither later nor earlier", async () => {
    const wall = { now: 0 };
    const n = twoNodes(wall);
    store(n.kv, experiment("e", 1_000));
    n.a.start();
    n.b.start();
    const step = async (ms: number) => {
      for (let i = 0; i < ms / 100; i++) {
        wall.now += 100;
        n.clock.advance(100);
        await Promise.resolve();
      }
    };
    await step(500);
    n.lead("b");
    await step(400);
    assert.deepEqual(names(n.kv), ["e"], "still there before the deadline");
    assert.equal(n.proposed.length, 0);
    await step(100);
    assert.deepEqual(names(n.kv), [], "gone at the deadline");
    assert.deepEqual(
      n.proposed.map((p) => p.by),
      ["b"],
    );
    n.a.stop();
    n.b.stop();
  });

  it("no leader, no expiry; a failed proposal is retried at the next check", async () => {
    const wall = { now: 2_000 };
    const kv = new MemoryKv();
    store(kv, experiment("e", 1_000));
    const clock = new FakeClock();
    let leading = false;
    let failures = 1;
    const loop = new FaultExpiryLoop({
      clock,
      wallNow: () => wall.now,
      isLeader: () => leading,
      view: () => kv,
      propose: async (command) => {
        if (failures-- > 0) throw new Error("lost leadership");
        const { ops, result } = applyFaultCommand(kv, command);
        kv.apply(ops);
        return result;
      },
      logger: silentLogger(),
    });
    loop.check();
    assert.deepEqual(names(kv), ["e"]);
    leading = true;
    loop.check();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(names(kv), ["e"]);
    loop.check();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(names(kv), []);
  });
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { RawNode } from "../../src/raft/rawnode.ts";
import { MemoryStorage } from "../../src/raft/storage.ts";
import { Rng } from "../sim/rng.ts";
import { Cluster } from "./harness.ts";

const enc = new TextEncoder();

function compactAll(c: Cluster, id: string): number {
  const n = c.node(id);
  const st = n.raw.status();
  n.storage.createSnapshot(st.applied, st.confState, enc.encode(`state@${st.applied}`));
  n.storage.compact(st.applied);
  return st.applied;
}

test("§7 a follower that lags behind the leader's compacted log is sent InstallSnapshot and catches up", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  c.isolate("n3");
  for (let i = 0; i < 5; i++) c.propose("n1", `e${i}`);
  c.stabilize();
  c.tick("n1");
  c.stabilize();
  const snapIndex = compactAll(c, "n1");
  c.heal();
  let snaps = 0;
  for (let i = 0; i < 20; i++) {
    c.tick("n1");
    for (let j = 0; j < 20 && c.queue.length > 0; j++) {
      for (const m of c.take()) {
        if (m.type === "MsgSnap") {
          snaps++;
          c.deliver(m);
          c.raw("n1").reportSnapshot("n3", true);
          c.process("n1");
        } else c.deliver(m);
      }
    }
  }
  assert.equal(snaps, 1);
  assert.equal(c.node("n3").storage.snapshot().metadata.index, snapIndex);
  assert.equal(c.raw("n3").status().commit, c.raw("n1").status().commit);
  c.propose("n1", "after");
  c.stabilize();
  c.tick("n1");
  c.stabilize();
  assert.deepEqual(c.appliedData("n3"), ["after"]);
});

test("§7 a node restarts from its snapshot plus the log after it", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  for (let i = 0; i < 4; i++) c.propose("n1", `e${i}`);
  c.stabilize();
  c.tick("n1");
  c.stabilize();
  const snapIndex = compactAll(c, "n2");
  c.propose("n1", "tail");
  c.stabilize();
  c.tick("n1");
  c.stabilize();
  const storage = c.node("n2").storage;
  const restarted = new RawNode({
    id: "n2",
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    random: new Rng(3),
    applied: snapIndex,
  });
  const rd = restarted.ready();
  assert.deepEqual(
    rd.committedEntries.map((e) => new TextDecoder().decode(e.data)),
    ["tail"],
  );
  assert.deepEqual(restarted.status().confState.voters, ["n1", "n2", "n3"]);
});

test("MemoryStorage: compacted and unavailable indexes raise typed errors", () => {
  const s = new MemoryStorage();
  RawNode.bootstrap(s, ["a"]);
  s.append([{ term: 2, index: 2, type: "normal", data: new Uint8Array(10) }]);
  s.createSnapshot(2, { voters: ["a"], learners: [] }, new Uint8Array());
  s.compact(2);
  assert.throws(() => s.term(1), { code: "ERR_COMPACTED" });
  assert.throws(() => s.entries(1, 3, 100), { code: "ERR_COMPACTED" });
  assert.throws(() => s.term(5), { code: "ERR_UNAVAILABLE" });
  assert.throws(() => s.createSnapshot(1, { voters: ["a"], learners: [] }, new Uint8Array()), {
    code: "ERR_SNAPSHOT_OUT_OF_DATE",
  });
  assert.equal(s.term(2), 2);
  assert.equal(s.firstIndex(), 3);
  assert.throws(() => RawNode.bootstrap(s, ["a"]), { code: "ERR_BOOTSTRAP" });
});

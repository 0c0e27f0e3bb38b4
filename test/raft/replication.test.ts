import assert from "node:assert/strict";
import { test } from "node:test";
import { RawNode } from "../../src/raft/rawnode.ts";
import { MemoryStorage } from "../../src/raft/storage.ts";
import type { Entry, Message } from "../../src/raft/types.ts";
import { Rng } from "../sim/rng.ts";
import { Cluster } from "./harness.ts";

const enc = new TextEncoder();

test("§5.3 once an entry is replicated on a majority the leader commits it and every server applies it in order", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  for (const x of ["a", "b", "c"]) c.propose("n1", x);
  c.stabilize();
  c.tick("n1");
  c.stabilize();
  for (const id of ["n1", "n2", "n3"]) assert.deepEqual(c.appliedData(id), ["a", "b", "c"]);
});

test("§5.1 a proposal on a follower is refused with an error naming the leader", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  assert.throws(() => c.raw("n2").propose(enc.encode("x")), { code: "ERR_NOT_LEADER", leader: "" });
  c.elect("n1");
  assert.throws(() => c.raw("n2").propose(enc.encode("x")), { code: "ERR_NOT_LEADER", leader: "n1" });
});

function resp(to: string, from: string, term: number, index: number): Message {
  return {
    type: "MsgAppResp",
    from,
    to,
    term,
    logTerm: 0,
    index,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    rejectHintTerm: 0,
    context: new Uint8Array(),
  };
}

test("§5.4.2 Raft never commits log entries from previous terms by counting replicas (Figure 8)", () => {
  const c = new Cluster([]);
  // n1 holds an entry of term 2 that nobody else has; everyone is at term 2
  const ids = ["n1", "n2", "n3"];
  for (const id of ids) {
    const s = new MemoryStorage();
    RawNode.bootstrap(s, ids);
    if (id === "n1") s.append([{ term: 2, index: 4, type: "normal", data: enc.encode("old") }]);
    s.setHardState({ term: 2, vote: "", commit: 3 });
    c.add(id, s);
  }
  c.drop = (m) => m.type === "MsgApp";
  c.elect("n1");
  const st = c.raw("n1").status();
  assert.equal(st.role, "leader");
  assert.equal(st.term, 3);
  // n2 acknowledges "old" (term 2): a majority holds it, yet counting must not commit it
  c.raw("n1").step(resp("n1", "n2", 3, 4));
  assert.equal(c.raw("n1").status().commit, 3, "an entry of an earlier term was committed by counting");
  // once the no-op of term 3 is on a majority, both are committed
  c.raw("n1").step(resp("n1", "n2", 3, 5));
  assert.equal(c.raw("n1").status().commit, 5);
});

test("§5.3 a partitioned old leader's uncommitted entries are overwritten by the new leader's log", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  c.isolate("n1");
  c.propose("n1", "lost");
  c.propose("n1", "lost2");
  c.tick("n2", 20);
  c.tick("n3", 20);
  c.queue = [];
  c.elect("n2");
  c.propose("n2", "kept");
  c.stabilize();
  c.heal();
  c.tick("n2");
  c.stabilize();
  c.tick("n2");
  c.stabilize();
  assert.equal(c.raw("n1").status().lead, "n2");
  for (const id of ["n1", "n2", "n3"]) assert.deepEqual(c.appliedData(id), ["kept"]);
});

function storageWithLog(terms: number[]): MemoryStorage {
  const s = new MemoryStorage();
  RawNode.bootstrap(s, ["n1", "n2"]);
  const ents: Entry[] = terms.map((term, i) => ({ term, index: 3 + i, type: "normal", data: enc.encode(`t${term}`) }));
  s.append(ents);
  s.setHardState({ term: Math.max(...terms), vote: "", commit: 2 });
  return s;
}

test("§5.3 fast backtracking: the follower's reject hint skips a whole conflicting term per round trip", () => {
  const c = new Cluster([]);
  // n1 (future leader) has a long term-3 tail; n2 has a long divergent term-2 tail
  c.add("n1", storageWithLog([1, 1, 3, 3, 3, 3, 3, 3, 3, 3]));
  c.add("n2", storageWithLog([1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]));
  c.raw("n1").campaign();
  c.process("n1");
  c.stabilize();
  assert.equal(c.raw("n1").status().role, "leader");
  let rejections = 0;
  for (let i = 0; i < 50 && c.queue.length > 0; i++) {
    for (const m of c.take()) {
      if (m.type === "MsgAppResp" && m.reject) rejections++;
      c.deliver(m);
    }
  }
  c.elect("n1");
  assert.ok(rejections <= 2, `${rejections} rejected probes for 12 conflicting entries`);
  const n1 = c.raw("n1").status();
  const n2 = c.raw("n2").status();
  assert.equal(n2.commit, n1.commit);
  assert.deepEqual(c.node("n2").storage.entries(5, 6, 1000)[0]?.term, 3);
});

test("§5.3 pipelining: in replicate state the leader keeps up to maxInflightMsgs MsgApps in flight, then pauses", () => {
  const c = new Cluster(["n1", "n2"], { maxInflightMsgs: 3, maxSizePerMsg: 1 });
  c.elect("n1");
  c.queue = [];
  for (let i = 0; i < 10; i++) c.propose("n1", `p${i}`);
  const apps = c.take((m) => m.type === "MsgApp" && m.to === "n2");
  assert.equal(apps.length, 3);
  assert.equal(c.raw("n1").status().progress?.get("n2")?.state, "replicate");
  for (const m of apps) c.deliver(m);
  c.stabilize();
  assert.equal(c.appliedData("n1").length, 10);
});

test("§5.3 batching: many proposals travel in one MsgApp when they fit maxSizePerMsg", () => {
  const c = new Cluster(["n1", "n2"]);
  c.elect("n1");
  c.queue = [];
  c.raw("n1").proposeBatch(Array.from({ length: 100 }, () => new Uint8Array(64)));
  c.process("n1");
  const apps = c.take((m) => m.type === "MsgApp");
  assert.equal(apps.length, 1);
  assert.equal(apps[0]?.entries.length, 100);
});

test("a follower restarted from storage keeps its term, vote, log and commit", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  c.propose("n1", "a");
  c.stabilize();
  c.tick("n1");
  c.stabilize();
  const before = c.raw("n2").status();
  const restarted = new RawNode({
    id: "n2",
    electionTick: 10,
    heartbeatTick: 1,
    storage: c.node("n2").storage,
    random: new Rng(1),
    applied: before.applied,
  });
  const after = restarted.status();
  assert.equal(after.term, before.term);
  assert.equal(after.commit, before.commit);
  assert.equal(after.applied, before.applied);
  assert.deepEqual(after.confState, before.confState);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeConfChange, encodeConfChange } from "../../src/raft/confchange.ts";
import { MemoryStorage } from "../../src/raft/storage.ts";
import type { ConfChange } from "../../src/raft/types.ts";
import { Cluster } from "./harness.ts";

function settle(c: Cluster, leader: string): void {
  for (let i = 0; i < 5; i++) {
    c.stabilize();
    c.tick(leader);
  }
  c.stabilize();
}

test("thesis §4.2.1: a learner catches up without voting, then is promoted to voter", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  c.propose("n1", "before");
  settle(c, "n1");
  c.add("n4", new MemoryStorage());
  c.raw("n1").proposeConfChange({ type: "addLearner", nodeId: "n4" });
  c.process("n1");
  settle(c, "n1");
  assert.deepEqual(c.raw("n1").status().confState, { voters: ["n1", "n2", "n3"], learners: ["n4"] });
  assert.deepEqual(c.appliedData("n4"), ["before"]);
  assert.deepEqual(c.raw("n4").status().confState.learners, ["n4"]);
  c.raw("n1").proposeConfChange({ type: "addVoter", nodeId: "n4" });
  c.process("n1");
  settle(c, "n1");
  assert.deepEqual(c.raw("n1").status().confState, { voters: ["n1", "n2", "n3", "n4"], learners: [] });
});

test("thesis §4.2.2: removing the leader works: it steps down once the change is applied and the rest elect a leader", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  c.raw("n1").proposeConfChange({ type: "removeNode", nodeId: "n1" });
  c.process("n1");
  settle(c, "n1");
  assert.notEqual(c.raw("n1").status().role, "leader");
  assert.deepEqual(c.raw("n2").status().confState.voters, ["n2", "n3"]);
  let leader: string | undefined;
  for (let i = 0; i < 60 && leader === undefined; i++) {
    c.tick("n2");
    c.tick("n3");
    c.stabilize();
    leader = ["n2", "n3"].find((id) => c.raw(id).status().role === "leader");
  }
  assert.ok(leader !== undefined, "no new leader");
  assert.notEqual(c.raw("n1").status().role, "leader");
  c.propose(leader, "after");
  settle(c, leader);
  assert.deepEqual(c.appliedData("n3"), ["after"]);
});

test("one change at a time: a second change before the first is applied is refused with ERR_CONF_CHANGE_IN_PROGRESS", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  c.isolate("n1");
  c.raw("n1").proposeConfChange({ type: "addLearner", nodeId: "n4" });
  assert.throws(() => c.raw("n1").proposeConfChange({ type: "addLearner", nodeId: "n5" }), {
    code: "ERR_CONF_CHANGE_IN_PROGRESS",
  });
});

test("removing the last voter is refused with ERR_REMOVE_LAST_VOTER", () => {
  const c = new Cluster(["n1"]);
  c.elect("n1");
  assert.equal(c.raw("n1").status().role, "leader");
  assert.throws(() => c.raw("n1").proposeConfChange({ type: "removeNode", nodeId: "n1" }), {
    code: "ERR_REMOVE_LAST_VOTER",
  });
});

test("a malformed change is refused with ERR_CONF_CHANGE_INVALID", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  const bad: unknown[] = [
    { type: "addVoter", nodeId: "" },
    { type: "explode", nodeId: "n9" },
    { type: "addVoter", nodeId: "n2" },
    { type: "removeNode", nodeId: "n9" },
    { type: "addLearner", nodeId: "n9", context: "text" },
  ];
  for (const cc of bad) {
    assert.throws(() => c.raw("n1").proposeConfChange(cc as ConfChange), { code: "ERR_CONF_CHANGE_INVALID" });
  }
  assert.throws(() => decodeConfChange(new TextEncoder().encode("{nope")), { code: "ERR_CONF_CHANGE_INVALID" });
  const cc: ConfChange = { type: "addLearner", nodeId: "n9", context: new Uint8Array([1, 255]) };
  assert.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
});

test("a conf change on a follower is refused with ERR_NOT_LEADER", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  assert.throws(() => c.raw("n2").proposeConfChange({ type: "addLearner", nodeId: "n4" }), {
    code: "ERR_NOT_LEADER",
    leader: "n1",
  });
});

test("a new leader accepts a conf change only after its own no-op is committed (the single-server change fix)", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.drop = (m) => m.type === "MsgApp";
  c.elect("n1");
  assert.equal(c.raw("n1").status().role, "leader");
  assert.throws(() => c.raw("n1").proposeConfChange({ type: "addLearner", nodeId: "n4" }), {
    code: "ERR_CONF_CHANGE_IN_PROGRESS",
  });
  c.heal();
  settle(c, "n1");
  assert.doesNotThrow(() => c.raw("n1").proposeConfChange({ type: "addLearner", nodeId: "n4" }));
});

test("thesis §4.2.1: a learner neither campaigns nor counts toward the commit majority", () => {
  const c = new Cluster(["n1", "n2"]);
  c.elect("n1");
  settle(c, "n1");
  c.add("n3", new MemoryStorage());
  c.raw("n1").proposeConfChange({ type: "addLearner", nodeId: "n3" });
  c.process("n1");
  settle(c, "n1");
  assert.deepEqual(c.raw("n3").status().confState.learners, ["n3"]);
  // with n2 silent, the learner's ack alone must not commit anything
  c.drop = (m) => m.from === "n2" || m.to === "n2";
  const before = c.raw("n1").status().commit;
  c.propose("n1", "x");
  settle(c, "n1");
  assert.equal(c.raw("n1").status().commit, before);
  c.tick("n3", 100);
  assert.equal(c.raw("n3").status().role, "follower");
});

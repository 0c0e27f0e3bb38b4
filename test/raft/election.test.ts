import assert from "node:assert/strict";
import { test } from "node:test";
import { Cluster } from "./harness.ts";

test("§5.2 a candidate that wins votes from a majority becomes leader", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  assert.equal(c.raw("n1").status().role, "leader");
  assert.equal(c.raw("n2").status().lead, "n1");
  assert.equal(c.raw("n3").status().lead, "n1");
});

test("§5.2 if no leader is heard from, a follower times out within [electionTick, 2*electionTick) and starts an election", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  let ticks = 0;
  while (c.raw("n1").status().role === "follower" && ticks < 100) {
    c.tick("n1");
    ticks++;
  }
  assert.ok(ticks >= 10 && ticks < 20, `timed out after ${ticks} ticks`);
  c.stabilize();
  assert.equal(c.raw("n1").status().role, "leader");
});

test("§5.2 each server votes for at most one candidate in a given term", () => {
  const c = new Cluster(["n1", "n2", "n3"], { preVote: false });
  c.raw("n1").campaign();
  c.process("n1");
  c.raw("n3").campaign();
  c.process("n3");
  // n2 sees n1's request first, then n3's for the same term
  const fromN1 = c.take((m) => m.to === "n2" && m.from === "n1");
  const fromN3 = c.take((m) => m.to === "n2" && m.from === "n3");
  assert.ok(fromN1.length > 0 && fromN3.length > 0);
  for (const m of [...fromN1, ...fromN3]) c.deliver(m);
  const answers = c.take((m) => m.from === "n2" && m.type === "MsgVoteResp");
  assert.deepEqual(
    answers.map((m) => [m.to, m.reject]),
    [
      ["n1", false],
      ["n3", true],
    ],
  );
});

test("§5.4.1 the voter denies its vote if its own log is more up-to-date than that of the candidate", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  c.isolate("n3");
  c.propose("n1", "x");
  c.stabilize();
  c.heal();
  // n3 missed "x"; its pre-vote and vote are refused by both others
  c.tick("n2", 30); // n2 forgets the leader's lease only when it hears nothing; keep n1 silent
  c.queue = [];
  const before = c.raw("n3").status().term;
  c.raw("n3").campaign();
  c.process("n3");
  c.stabilize();
  assert.notEqual(c.raw("n3").status().role, "leader");
  assert.ok(c.raw("n3").status().term <= before + 1);
});

test("pre-vote (thesis §9.6): a partitioned node that returns does not depose a healthy leader", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  const term = c.raw("n1").status().term;
  c.isolate("n3");
  c.tick("n3", 100);
  c.queue = [];
  c.heal();
  c.raw("n3").campaign();
  c.process("n3");
  c.stabilize();
  assert.equal(c.raw("n1").status().role, "leader");
  assert.equal(c.raw("n1").status().term, term);
});

test("a leader whose connections broke is replaced within one election timeout: its followers give up its lease", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  const term = c.raw("n1").status().term;
  c.isolate("n1");
  c.raw("n2").reportUnreachable("n1");
  c.raw("n3").reportUnreachable("n1");
  let ticks = 0;
  while (c.raw("n2").status().role !== "leader" && c.raw("n3").status().role !== "leader" && ticks < 40) {
    c.tick("n2");
    c.tick("n3");
    c.stabilize();
    ticks++;
  }
  // Without the report the first campaign comes after 10-19 ticks and is ignored by the other follower,
  // still inside the old leader's lease, until its own 10 ticks have passed.
  assert.ok(ticks <= 10, `new leader after ${ticks} ticks`);
  const winner = c.raw("n2").status().role === "leader" ? "n2" : "n3";
  assert.equal(c.raw(winner).status().term, term + 1);
});

test("a follower that lost only its own link to a live leader cannot depose it", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  const term = c.raw("n1").status().term;
  c.raw("n2").reportUnreachable("n1");
  c.tick("n2", 10);
  assert.equal(c.raw("n2").status().role, "preCandidate");
  c.stabilize();
  c.tick("n1");
  c.stabilize();
  assert.equal(c.raw("n1").status().role, "leader");
  assert.equal(c.raw("n1").status().term, term);
  assert.equal(c.raw("n2").status().lead, "n1");
});

test("an unreachable report about a peer that is not the leader changes nothing on a follower", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  c.raw("n2").reportUnreachable("n3");
  c.tick("n2", 9);
  assert.equal(c.raw("n2").status().role, "follower");
  assert.equal(c.raw("n2").status().lead, "n1");
});

test("check-quorum (thesis §6.2): a leader that cannot reach a majority steps down within an election timeout", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  c.isolate("n1");
  let ticks = 0;
  while (c.raw("n1").status().role === "leader" && ticks < 100) {
    c.tick("n1");
    ticks++;
  }
  assert.equal(c.raw("n1").status().role, "follower");
  assert.ok(ticks <= 20, `stepped down after ${ticks} ticks`);
});

test("§5.1 a server that sees a higher term reverts to follower", () => {
  const c = new Cluster(["n1", "n2", "n3"], { preVote: false, checkQuorum: false });
  c.elect("n1");
  c.isolate("n1");
  c.elect("n2");
  c.heal();
  c.tick("n2");
  c.stabilize();
  assert.equal(c.raw("n1").status().role, "follower");
  assert.equal(c.raw("n1").status().lead, "n2");
});

test("leadership transfer (thesis §3.10): the target is caught up, then told to campaign at once", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  c.isolate("n3");
  c.propose("n1", "a");
  c.stabilize();
  c.heal();
  c.raw("n1").transferLeadership("n3");
  c.process("n1");
  c.stabilize();
  assert.equal(c.raw("n3").status().role, "leader");
  assert.equal(c.raw("n1").status().lead, "n3");
  assert.deepEqual(c.appliedData("n3"), ["a"]);
});

test("a proposal while a transfer is under way is dropped with a typed error", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  c.isolate("n3");
  c.raw("n1").transferLeadership("n3");
  assert.throws(() => c.raw("n1").propose(new Uint8Array([1])), { code: "ERR_PROPOSAL_DROPPED" });
});

test("basicStatus() is status() without the membership and progress copies", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  for (const id of ["n1", "n2"]) {
    const { confState, progress, ...rest } = c.raw(id).status();
    assert.deepEqual(c.raw(id).basicStatus(), rest);
    assert.equal(progress !== undefined, id === "n1");
    assert.deepEqual(confState.voters, ["n1", "n2", "n3"]);
  }
});

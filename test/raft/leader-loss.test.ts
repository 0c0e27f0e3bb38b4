/**
 * The leader-loss rule (RaftConfig.leaderLossTick / leaderLossJitterTick): a follower that has heard nothing
 * from its leader for leaderLossTick (+ its jitter) runs a pre-vote before its election timeout; voters that still
 * hold the leader's lease ignore it, so it wins only once a quorum has each given up on the leader.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { RaftConfig } from "../../src/raft/rawnode.ts";
import { RawNode } from "../../src/raft/rawnode.ts";
import { MemoryStorage } from "../../src/raft/storage.ts";
import type { Message, NodeId } from "../../src/raft/types.ts";
import { Rng } from "../sim/rng.ts";
import { Cluster } from "./harness.ts";

const RULE = { leaderLossTick: 4, leaderLossJitterTick: 3 } as const;
const IDS: NodeId[] = ["n1", "n2", "n3"];

function leaderAmong(c: Cluster, ids: readonly NodeId[]): NodeId | undefined {
  return ids.find((id) => c.raw(id).status().role === "leader");
}

/** n1 leads, then goes silent (a frozen process: it sends nothing and hears nothing); ticks until n2 or n3 leads. */
function ticksToReplaceFrozenLeader(options: Partial<RaftConfig>): { ticks: number; term: number; leader: NodeId } {
  const c = new Cluster(IDS, options);
  c.elect("n1");
  const term = c.raw("n1").status().term;
  c.isolate("n1");
  let ticks = 0;
  let leader: NodeId | undefined;
  while (leader === undefined && ticks < 100) {
    c.tick("n2");
    c.tick("n3");
    c.stabilize();
    ticks++;
    leader = leaderAmong(c, ["n2", "n3"]);
  }
  assert.ok(leader !== undefined, "no new leader within 100 ticks");
  return { ticks, term: c.raw(leader).status().term - term, leader };
}

test("leader loss: a silent leader is replaced after leaderLossTick + jitter, before the election timeout", () => {
  const on = ticksToReplaceFrozenLeader(RULE);
  // At most 4 + 2 ticks of silence, then the pre-vote and the vote are delivered within the same stabilize.
  assert.ok(on.ticks <= RULE.leaderLossTick + RULE.leaderLossJitterTick, `new leader after ${on.ticks} ticks`);
  assert.ok(on.ticks >= RULE.leaderLossTick, `new leader after ${on.ticks} ticks, before any silence counted`);
  assert.equal(on.term, 1, "one election, no split vote");
  // Without the rule the same freeze takes a whole randomised election timeout: [10, 20) ticks.
  const off = ticksToReplaceFrozenLeader({});
  assert.ok(off.ticks >= 10, `without the rule: ${off.ticks} ticks`);
});

test("leader loss: a follower that misses only its own leader's messages runs early pre-votes that change nothing", () => {
  const c = new Cluster(IDS, RULE);
  c.elect("n1");
  const term = c.raw("n1").status().term;
  // One-way loss: n3 never hears n1, but n1 and n2 hear n3 (its pre-votes reach them).
  c.drop = (m) => m.from === "n1" && m.to === "n3";
  let preVotes = 0;
  for (let t = 0; t < 300; t++) {
    for (const id of IDS) c.tick(id);
    preVotes += c.queue.filter((m) => m.type === "MsgPreVote" && m.from === "n3").length;
    c.stabilize();
    assert.equal(c.raw("n1").status().role, "leader", `tick ${t}`);
    assert.equal(c.raw("n1").status().term, term, `tick ${t}`);
    assert.equal(c.raw("n2").status().lead, "n1", `tick ${t}`);
  }
  // Not vacuous: n3 asked, at its early moments and at its election timeouts.
  assert.ok(preVotes >= 20, `n3 sent ${preVotes} pre-votes`);
});

test("leader loss: a follower that gave up on its leader and hears it again counts the silence afresh", () => {
  const c = new Cluster(IDS, RULE);
  c.elect("n1");
  c.drop = (m) => m.from === "n1" && m.to === "n2";
  let ticks = 0;
  while (c.raw("n2").status().role !== "preCandidate" && ticks < 9) {
    for (const id of IDS) c.tick(id);
    c.stabilize();
    ticks++;
  }
  assert.equal(c.raw("n2").status().role, "preCandidate", "n2 never ran its early pre-vote");
  c.heal();
  c.tick("n1");
  c.stabilize();
  assert.equal(c.raw("n2").status().lead, "n1");
  // Heard every tick from here: no pre-vote, whatever the silence before.
  for (let t = 0; t < 30; t++) {
    for (const id of IDS) c.tick(id);
    assert.ok(!c.queue.some((m) => m.type === "MsgPreVote"), `a pre-vote ${t + 1} ticks after the leader came back`);
    c.stabilize();
  }
});

test("leader loss: under 40 % random message loss on every link a live leader keeps its term", () => {
  const c = new Cluster(IDS, RULE);
  c.elect("n1");
  const term = c.raw("n1").status().term;
  const loss = new Rng(2026);
  c.drop = () => loss.chance(0.4);
  let preVotes = 0;
  for (let t = 0; t < 2000; t++) {
    for (const id of IDS) c.tick(id);
    preVotes += c.queue.filter((m) => m.type === "MsgPreVote").length;
    if (t % 50 === 0) c.propose("n1", `w${t}`);
    c.stabilize();
    assert.equal(c.raw("n1").status().role, "leader", `tick ${t}`);
    assert.equal(c.raw("n1").status().term, term, `tick ${t}`);
  }
  // The loss did make followers miss the leader long enough to ask.
  assert.ok(preVotes > 0, "no follower ever ran a pre-vote: the test would pass without the lease");
});

test("leader loss: two followers that lose the leader at the same tick ask at ticks drawn from the random source", () => {
  let differ = 0;
  const starts: number[] = [];
  for (let seed = 1; seed <= 40; seed++) {
    const c = new Cluster(IDS, { ...RULE, random: new Rng(seed) });
    c.elect("n1");
    c.isolate("n1");
    const first = new Map<NodeId, number>();
    for (let t = 1; t <= 9 && first.size < 2; t++) {
      for (const id of ["n2", "n3"]) {
        c.tick(id);
        if (!first.has(id) && c.queue.some((m: Message) => m.type === "MsgPreVote" && m.from === id)) first.set(id, t);
      }
      c.queue = [];
    }
    const [a, b] = [first.get("n2"), first.get("n3")];
    assert.ok(a !== undefined && b !== undefined, `seed ${seed}: no early pre-vote within 9 ticks`);
    starts.push(a, b);
    if (a !== b) differ++;
  }
  for (const t of starts) assert.ok(t >= 4 && t < 7, `a pre-vote at tick ${t}, outside [4, 7)`);
  // Independent draws of 0..2 tie a third of the time; without jitter they would tie every time.
  assert.ok(differ >= 15, `the two followers asked at different ticks in only ${differ} of 40 seeds`);
  assert.ok(new Set(starts).size === 3, `start ticks ${[...new Set(starts)]}: the jitter is not spread`);
});

test("leader loss: the jitter comes from the injected random source, not Math.random", () => {
  const saved = Math.random;
  Math.random = () => {
    throw new Error("Math.random called");
  };
  try {
    // A source that always answers `pick` (clamped): the first early pre-vote comes exactly leaderLossTick + it.
    for (const pick of [0, 1, 2]) {
      const c = new Cluster(IDS, { ...RULE, random: { intn: (n) => Math.min(pick, n - 1) } });
      c.elect("n1");
      c.isolate("n1");
      let tick = 0;
      while (!c.queue.some((m: Message) => m.type === "MsgPreVote") && tick < 20) {
        c.tick("n2");
        tick++;
      }
      assert.equal(tick, RULE.leaderLossTick + pick, `intn answering ${pick}`);
    }
  } finally {
    Math.random = saved;
  }
});

/** n1 leads over `ids`, dies (isolated) and every follower's transport reports the break; ticks until another leads. */
function ticksAfterBrokenLeader(ids: NodeId[], options: Partial<RaftConfig>, seed = 1) {
  const c = new Cluster(ids, { ...options, random: new Rng(seed) });
  c.elect("n1");
  const term = c.raw("n1").status().term;
  c.isolate("n1");
  const followers = ids.filter((id) => id !== "n1");
  for (const id of followers) c.raw(id).reportUnreachable("n1");
  let ticks = 0;
  let leader: NodeId | undefined;
  while (leader === undefined && ticks < 60) {
    for (const id of followers) c.tick(id);
    c.stabilize();
    ticks++;
    leader = leaderAmong(c, followers);
  }
  assert.ok(leader !== undefined, `seed ${seed}: no leader within 60 ticks`);
  return { ticks, leader, elections: c.raw(leader).status().term - term };
}

test("leader loss: a leader whose connections broke is replaced at the next tick, by the first voter in id order", () => {
  for (const ids of [IDS, ["n1", "n2", "n3", "n4", "n5"]]) {
    for (let seed = 1; seed <= 20; seed++) {
      const r = ticksAfterBrokenLeader(ids, RULE, seed);
      // Turns, not lots: no seed splits the vote or waits for the randomised timeout.
      assert.deepEqual(r, { ticks: 1, leader: "n2", elections: 1 }, `${ids.length} nodes, seed ${seed}`);
    }
  }
  // Without the rule the report only lifts the lease: the campaign waits for the randomised part of the timeout.
  const slow = Array.from({ length: 20 }, (_, i) => ticksAfterBrokenLeader(IDS, {}, i + 1).ticks);
  assert.ok(Math.max(...slow) > 2, `without the rule: ${slow.join(", ")} ticks`);
});

test("leader loss: when the first in turn cannot win (its log is behind), the next asks one tick later", () => {
  const c = new Cluster(IDS, RULE);
  c.elect("n1");
  const term = c.raw("n1").status().term;
  // n2 misses an entry that n1 and n3 commit: n3 will refuse to make n2 leader.
  c.drop = (m) => m.from === "n1" && m.to === "n2";
  c.propose("n1", "only-n3-has-it");
  c.stabilize();
  c.isolate("n1");
  c.raw("n2").reportUnreachable("n1");
  c.raw("n3").reportUnreachable("n1");
  c.tick("n2");
  c.tick("n3");
  c.stabilize();
  assert.equal(leaderAmong(c, ["n2", "n3"]), undefined, "n2 won with a shorter log");
  c.tick("n2");
  c.tick("n3");
  c.stabilize();
  assert.equal(leaderAmong(c, ["n2", "n3"]), "n3");
  assert.equal(c.raw("n3").status().term, term + 1);
});

test("leader loss: a broken link to a live leader gives one pre-vote, refused; the leader keeps its term", () => {
  const c = new Cluster(IDS, RULE);
  c.elect("n1");
  const term = c.raw("n1").status().term;
  c.raw("n2").reportUnreachable("n1");
  c.tick("n2");
  assert.ok(
    c.queue.some((m) => m.type === "MsgPreVote" && m.from === "n2"),
    "no pre-vote at the next tick",
  );
  c.stabilize();
  c.tick("n1");
  c.stabilize();
  assert.equal(c.raw("n1").status().role, "leader");
  assert.equal(c.raw("n1").status().term, term);
  assert.equal(c.raw("n2").status().lead, "n1");
});

test("leader loss: a word from the leader after a broken-link report calls the turn off", () => {
  const c = new Cluster(IDS, RULE);
  c.elect("n1");
  // n3 is second in turn: two ticks; the leader's heartbeat comes in between.
  c.raw("n3").reportUnreachable("n1");
  c.tick("n3");
  c.tick("n1");
  c.stabilize();
  for (let t = 0; t < RULE.leaderLossTick; t++) {
    for (const id of IDS) c.tick(id);
    assert.ok(!c.queue.some((m) => m.type === "MsgPreVote"), `a pre-vote ${t + 1} ticks after the heartbeat`);
    c.stabilize();
  }
});

test("leader loss: bad settings are refused with a RangeError at construction", () => {
  const make = (o: Partial<RaftConfig>) => () => {
    const storage = new MemoryStorage();
    RawNode.bootstrap(storage, ["n1"]);
    return new RawNode({ id: "n1", electionTick: 10, heartbeatTick: 1, storage, random: new Rng(1), ...o });
  };
  for (const bad of [
    { leaderLossTick: 1 },
    { leaderLossTick: 10 },
    { leaderLossTick: 2.5 },
    { leaderLossTick: -3 },
    { leaderLossTick: 4, leaderLossJitterTick: -1 },
    { leaderLossJitterTick: 2 },
    { leaderLossTick: 4, preVote: false },
    { leaderLossTick: 4, checkQuorum: false },
  ])
    assert.throws(make(bad), RangeError, JSON.stringify(bad));
  assert.doesNotThrow(make({ leaderLossTick: 2, leaderLossJitterTick: 0 }));
});

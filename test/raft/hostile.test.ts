import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { Message } from "../../src/raft/types.ts";
import { Cluster } from "./harness.ts";

const types = fc.constantFrom(
  "MsgHup",
  "MsgApp",
  "MsgAppResp",
  "MsgVote",
  "MsgVoteResp",
  "MsgPreVote",
  "MsgPreVoteResp",
  "MsgHeartbeat",
  "MsgHeartbeatResp",
  "MsgSnap",
  "MsgTimeoutNow",
  "MsgReadIndex",
  "MsgReadIndexResp",
  "MsgTransferLeader",
  "MsgProp",
  "MsgBogus",
);
const count = fc.oneof(fc.nat(30), fc.integer(), fc.constant(Number.NaN), fc.constant(Number.MAX_SAFE_INTEGER));
const entry = fc.record({
  term: count,
  index: count,
  type: fc.constantFrom("normal", "confChange", "weird"),
  data: fc.uint8Array({ maxLength: 8 }),
});
const message = fc.record({
  type: types,
  from: fc.constantFrom("n1", "n2", "n3", "stranger", ""),
  to: fc.constantFrom("n1", "n2"),
  term: count,
  logTerm: count,
  index: count,
  entries: fc.array(entry, { maxLength: 4 }),
  commit: count,
  reject: fc.boolean(),
  rejectHint: count,
  rejectHintTerm: count,
  context: fc.uint8Array({ maxLength: 4 }),
  snapshot: fc.option(
    fc.record({
      metadata: fc.record({
        index: count,
        term: count,
        confState: fc.record({ voters: fc.array(fc.string(), { maxLength: 3 }), learners: fc.constant([]) }),
      }),
      data: fc.uint8Array({ maxLength: 4 }),
    }),
    { nil: undefined },
  ),
});

const IDS = ["n1", "n2", "n3"];

/**
 * The cluster still works: with the network quiet again, some node wins an election within a bounded number of
 * ticks, and a value proposed to it is applied by a majority.
 */
function assertStillWorks(c: Cluster): void {
  let leader: string | undefined;
  for (let round = 0; round < 200 && leader === undefined; round++) {
    for (const id of IDS) c.tick(id);
    c.stabilize();
    leader = IDS.find((id) => c.raw(id).status().role === "leader");
  }
  assert.ok(leader !== undefined, `no leader after hostile input: ${IDS.map((id) => c.raw(id).status().role)}`);
  c.propose(leader, "after");
  c.stabilize();
  for (const id of IDS) c.tick(id);
  c.stabilize();
  const applied = IDS.filter((id) => c.appliedData(id).includes("after"));
  assert.ok(applied.length >= 2, `"after" applied only on [${applied}]`);
}

test("hostile input: random, stale, out-of-range and malformed messages never crash a leader or a follower", () => {
  fc.assert(
    fc.property(fc.array(message, { minLength: 1, maxLength: 30 }), (msgs) => {
      const c = new Cluster(["n1", "n2", "n3"]);
      c.elect("n1");
      for (const m of msgs) {
        c.raw(m.to).step(m as unknown as Message);
        c.process(m.to);
      }
      c.raw("n2").step(null as unknown as Message);
      c.raw("n2").step({ type: "MsgApp" } as unknown as Message);
      c.stabilize();
      assertStillWorks(c);
    }),
    { numRuns: 300, seed: 42 },
  );
});

test("hostile input: an AppResp from an unknown id and a duplicated, reordered MsgApp change nothing", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  c.propose("n1", "a");
  const apps = c.take((m) => m.type === "MsgApp" && m.to === "n2");
  const app = apps[0];
  assert.ok(app !== undefined);
  c.stabilize();
  // "b" reaches no follower, so only a forged acknowledgement could commit it on n1
  c.propose("n1", "b");
  c.queue = [];
  const leaderBefore = c.raw("n1").status();
  const followerBefore = c.raw("n2").status();
  c.deliver(app);
  c.deliver(app);
  const forged = { ...app, type: "MsgAppResp" as const, from: "stranger", to: "n1", entries: [] };
  const lastIndex = c.node("n1").storage.lastIndex();
  c.raw("n1").step({ ...forged, index: lastIndex });
  c.raw("n1").step({ ...forged, index: 10_000 });
  c.process("n1");
  c.take((m) => m.type === "MsgApp" && m.to !== "n2");
  c.stabilize();
  assert.equal(c.raw("n1").status().role, "leader");
  assert.equal(c.raw("n1").status().commit, leaderBefore.commit);
  assert.deepEqual(c.appliedData("n1"), ["a"]);
  assert.equal(c.raw("n2").status().commit, followerBefore.commit);
});

test("hostile input: a MsgApp that would rewrite committed entries is dropped", () => {
  const c = new Cluster(["n1", "n2", "n3"]);
  c.elect("n1");
  c.propose("n1", "a");
  c.stabilize();
  c.tick("n1");
  c.stabilize();
  const st = c.raw("n2").status();
  c.raw("n2").step({
    type: "MsgApp",
    from: "n1",
    to: "n2",
    term: st.term,
    logTerm: 1,
    index: 3,
    entries: [{ term: st.term, index: 4, type: "normal", data: new TextEncoder().encode("evil") }],
    commit: 0,
    reject: false,
    rejectHint: 0,
    rejectHintTerm: 0,
    context: new Uint8Array(),
  });
  c.process("n2");
  assert.equal(c.raw("n2").status().commit, st.commit);
  assert.deepEqual(c.appliedData("n2"), ["a"]);
});

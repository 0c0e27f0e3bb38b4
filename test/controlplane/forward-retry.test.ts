import assert from "node:assert/strict";
import { test } from "node:test";
import { silentLogger } from "../../src/common/logger.ts";
import { createRegistry } from "../../src/common/metrics.ts";
import { CONFIG_PREFIX, registerConfigCommands } from "../../src/controlplane/config/commands.ts";
import { DeadlineError } from "../../src/controlplane/node.ts";
import { RaftControlNode } from "../../src/controlplane/raft-control-node.ts";
import { RevisionedKv } from "../../src/controlplane/state/kv.ts";
import { StateMachine } from "../../src/controlplane/state/machine.ts";
import { storedText } from "../../src/controlplane/state/value.ts";
import { decodeConfChange, encodeConfChange } from "../../src/raft/index.ts";
import { type Entry, EntryType, StateRole } from "../../src/raft/types.ts";
import type { Driver } from "../../src/raft-node/driver.ts";
import { ForwardError, type GrpcTransport } from "../../src/raft-node/transport.ts";

/**
 * Follower n2 with fakes for the driver and the transport, so the test
 * decides what each forwarded proposal does and which entries commit: the
 * replicated log is `log`, in the order the leaders proposed.
 */
function follower() {
  let lead = "n1";
  const log: Uint8Array[] = [];
  const forwards: string[] = [];
  let forwardAnswer: (data: Uint8Array) => Promise<void> = async (data) => {
    log.push(data);
  };
  const driver = {
    storageHealth: { ok: true },
    applied: 0,
    confState: { voters: ["n1", "n2", "n3"], learners: [] },
    basicStatus: () => ({ id: "n2", term: 2, vote: "", commit: 0, applied: 0, lead, role: StateRole.Follower }),
    input: () => {
      throw new Error("a follower proposes nothing itself in this test");
    },
  };
  const transport = {
    setPeer: () => {},
    forward: (to: string, data: Uint8Array) => {
      forwards.push(to);
      return forwardAnswer(data);
    },
  };
  const sm = new StateMachine(new RevisionedKv());
  registerConfigCommands(sm);
  const node = new RaftControlNode({
    id: "n2",
    sm,
    logger: silentLogger(),
    registry: createRegistry(),
    encodeConfChange,
    decodeConfChange,
    peers: new Map(),
  });
  node.attach(driver as unknown as Driver, transport as unknown as GrpcTransport);
  return {
    node,
    log,
    forwards,
    answerForwards(fn: (data: Uint8Array) => Promise<void>) {
      forwardAnswer = fn;
    },
    /** A new leader is elected: the node hears of it as the driver would tell it. */
    elect(id: string, term: number) {
      lead = id;
      node.softState({ lead: id, role: StateRole.Follower }, term);
    },
    /** Commits and applies the log from `from` on (index = position + 1). */
    commit(from = 0) {
      log.slice(from).forEach((data, i) => {
        const entry: Entry = { term: 3, index: from + i + 1, type: EntryType.Normal, data };
        node.applyEntry(entry);
      });
    },
    value(key: string) {
      const r = sm.kv.get(CONFIG_PREFIX + key);
      return r === undefined ? undefined : storedText(r.value);
    },
  };
}

const text = (s: string) => Buffer.from(s).toString("base64");

test("a forwarded put whose call broke after the leader proposed it is not proposed again (it would apply twice)", async () => {
  const f = follower();
  // The link to n1 breaks after n1 appended the entry: the call fails, but the entry is in the log and commits.
  f.answerForwards(async (data) => {
    f.log.push(data);
    throw new ForwardError("ERR_NO_LEADER", "forwarding to n1 failed: Connection dropped", "", true);
  });
  const first = f.node.propose({ type: "config.put", key: "k", value: text("v1") }, { deadlineMs: 2_000 });
  first.catch(() => {});
  while (f.forwards.length === 0) await new Promise((r) => setImmediate(r));
  // n3 takes over, keeping n1's entry; a forward now gets through.
  f.answerForwards(async (data) => {
    f.log.push(data);
  });
  f.elect("n3", 3);
  // Let a retry, if any, happen (leaderChange wakes the loop at once).
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 250));
  // Another client's later put, acknowledged before anything else applies.
  const second = f.node.propose({ type: "config.put", key: "k", value: text("v2") }, { deadlineMs: 2_000 });
  while (f.forwards.length < 2) await new Promise((r) => setImmediate(r));
  f.commit();
  await first;
  await second;
  assert.deepEqual(f.forwards, ["n1", "n3"], "v1 was forwarded once, v2 once");
  assert.equal(f.log.length, 2, "each put is in the log once");
  assert.equal(f.value("k"), "v2", "the later acknowledged put is the value, not undone by a duplicate of v1");
});

test("a forward the leader refused, or that never left, is sent again to the next leader", async () => {
  const f = follower();
  let calls = 0;
  f.answerForwards(async (data) => {
    calls++;
    if (calls === 1) throw new ForwardError("ERR_NOT_LEADER", "n1 is not the leader", "n3");
    if (calls === 2) throw new ForwardError("ERR_NO_LEADER", "forwarding to n3 failed: No connection established");
    f.log.push(data);
  });
  const p = f.node.propose({ type: "config.put", key: "k", value: text("v1") }, { deadlineMs: 5_000 });
  while (calls < 1) await new Promise((r) => setImmediate(r));
  f.elect("n3", 3);
  while (f.log.length === 0) await new Promise((r) => setTimeout(r, 10));
  f.commit();
  const { revision } = await p;
  assert.equal(revision, 1);
  assert.equal(calls, 3);
  assert.equal(f.value("k"), "v1");
});

test("a forward whose outcome is unknown and that never applies ends at the deadline, not with a second copy", async () => {
  const f = follower();
  f.answerForwards(async (data) => {
    f.log.push(data);
    throw new ForwardError("ERR_NO_LEADER", "forwarding to n1 failed: Deadline exceeded", "", true);
  });
  const p = f.node.propose({ type: "config.put", key: "k", value: text("v1") }, { deadlineMs: 400 });
  await assert.rejects(p, DeadlineError);
  assert.equal(f.log.length, 1);
});

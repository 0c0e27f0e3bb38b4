import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRegistry } from "../../src/common/metrics.ts";
import { type RaftView, registerRaftMetrics } from "../../src/controlplane/raft-metrics.ts";

describe("Raft gauges", () => {
  it("say whether a leader is known, and on the leader how far each follower lags behind the commit index", async () => {
    const registry = createRegistry({ processMetrics: false });
    let leader = "";
    const view: RaftView = {
      id: "n1",
      leader: () => leader,
      isLeader: () => leader === "n1",
      raftStatus: () => ({ commit: 120, applied: 118 }),
      members: () => [
        { id: "n1", matchIndex: 120 },
        { id: "n2", matchIndex: 119 },
        { id: "n3", matchIndex: 20 },
      ],
    };
    registerRaftMetrics(registry, view);
    const values = async (name: string) =>
      ((await registry.getSingleMetric(name)?.get())?.values ?? []).map((v) => [v.labels.follower ?? "", v.value]);
    assert.deepEqual(await values("meshlet_raft_has_leader"), [["", 0]]);
    assert.deepEqual(await values("meshlet_raft_follower_lag_entries"), [], "a follower reports no lag of others");
    leader = "n1";
    assert.deepEqual(await values("meshlet_raft_has_leader"), [["", 1]]);
    assert.deepEqual(await values("meshlet_raft_is_leader"), [["", 1]]);
    assert.deepEqual(await values("meshlet_raft_follower_lag_entries"), [
      ["n2", 1],
      ["n3", 100],
    ]);
    leader = "n2";
    assert.deepEqual(await values("meshlet_raft_follower_lag_entries"), [], "no stale series after losing leadership");
  });
});

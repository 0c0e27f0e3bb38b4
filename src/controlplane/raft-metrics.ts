import { METRIC_PREFIX } from "../common/metrics.ts";
import { Gauge, type Registry } from "../common/prom.ts";

/** What the Raft gauges read from the node, at scrape time. */
export interface RaftView {
  readonly id: string;
  /** Leader id, or "" when none is known. */
  leader(): string;
  isLeader(): boolean;
  raftStatus(): { commit: number; applied: number };
  /** Members with their match index (known on the leader only). */
  members(): readonly { id: string; matchIndex: number }[];
}

/**
 * The gauges alerts need beside the driver's indexes and term: whether this
 * node knows a leader (a cluster where none does for long cannot take a
 * change), and, on the leader, how far each follower's log is behind the
 * commit index (a follower that lags keeps its sidecars on old snapshots,
 * and would need a snapshot to catch up). Read from the node when scraped.
 */
export function registerRaftMetrics(registry: Registry, node: RaftView): void {
  const registers = [registry];
  new Gauge({
    name: `${METRIC_PREFIX}raft_has_leader`,
    help: "1 when this node knows a leader (itself or another), 0 during an election or without quorum",
    registers,
    collect() {
      this.set(node.leader() === "" ? 0 : 1);
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}raft_is_leader`,
    help: "1 on the leader",
    registers,
    collect() {
      this.set(node.isLeader() ? 1 : 0);
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}raft_follower_lag_entries`,
    help: "On the leader: committed entries a follower (or learner) has not yet replicated",
    labelNames: ["follower"],
    registers,
    collect() {
      this.reset();
      if (!node.isLeader()) return;
      const { commit } = node.raftStatus();
      for (const m of node.members()) {
        if (m.id !== node.id) this.labels(m.id).set(Math.max(0, commit - m.matchIndex));
      }
    },
  });
}

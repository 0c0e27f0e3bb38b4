import { sidecarsOf } from "../discovery/attach.ts";
import { readMeshState } from "../discovery/mesh-state.ts";
import type { RaftControlNode } from "../raft-control-node.ts";
import { kvView } from "../state/machine.ts";
import type { LiveSource } from "./live.ts";
import { buildView } from "./view.ts";

/**
 * The dashboard's data on a node: its own applied state (resources, registered endpoints: a stale read,
 * as a page may be served by any member) and Raft view, and the sidecars of the whole cluster with their
 * load reports, which the discovery runtime gathers from every member (ListSidecars).
 */
export function dashboardSource(node: RaftControlNode, clusterId: string): LiveSource {
  return {
    async view() {
      const cluster = await sidecarsOf(node);
      const state = readMeshState(kvView(node.kv), node.kv.revision);
      const { commit, applied } = node.raftStatus();
      return buildView({
        nodeId: node.id,
        clusterId,
        leader: node.leader(),
        term: node.term,
        commitIndex: commit,
        appliedIndex: applied,
        members: node.members(),
        revision: state.revision,
        resources: state.resources.map((r) => r.resource),
        endpoints: state.endpoints,
        cluster,
      });
    },
    onChange(listener) {
      const offApplied = node.on("applied", listener);
      const offLeader = node.on("leaderChange", listener);
      return () => {
        offApplied();
        offLeader();
      };
    },
  };
}

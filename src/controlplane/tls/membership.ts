import type { ConfState, NodeId } from "../../raft/types.ts";

/**
 * Whether node `id` is a member whose peer calls are taken: a voter or learner of the applied Raft configuration
 * (a joiner is added as a learner before it asks for its certificate, so "being added" is "learner"). Until this
 * node is in its own applied configuration (at start, before its log is replayed; a joiner before it has the
 * leader's log) it takes the members it was started with: --peers, or the members its --join answered.
 */
export function memberCheck(
  self: NodeId,
  confState: () => ConfState,
  startMembers: ReadonlySet<NodeId>,
): (id: NodeId) => boolean {
  return (id) => {
    const cs = confState();
    if (cs.voters.includes(id) || cs.learners.includes(id)) return true;
    const selfKnown = cs.voters.includes(self) || cs.learners.includes(self);
    return !selfKnown && startMembers.has(id);
  };
}

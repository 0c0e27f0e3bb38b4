import type { NodeId } from "./types.ts";

/**
 * The largest index a majority of voters has acknowledged: the largest voter's match m that at least a
 * quorum of voters has reached. A leader asks on every append response, so this allocates nothing (no
 * sorted copy, no callback): a cluster has a handful of voters, and counting for each of them is cheaper.
 */
export function committedIndex(
  voters: readonly NodeId[],
  progress: ReadonlyMap<NodeId, { readonly match: number }>,
): number {
  const quorum = Math.floor(voters.length / 2) + 1;
  let committed = 0;
  for (const candidate of voters) {
    const m = progress.get(candidate)?.match ?? 0;
    if (m <= committed) continue;
    let reached = 0;
    for (const id of voters) if ((progress.get(id)?.match ?? 0) >= m) reached++;
    if (reached >= quorum) committed = m;
  }
  return committed;
}

export type VoteResult = "pending" | "won" | "lost";

export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const quorum = Math.floor(voters.length / 2) + 1;
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  if (granted >= quorum) return "won";
  if (rejected > voters.length - quorum) return "lost";
  return "pending";
}

export function hasQuorum(voters: readonly NodeId[], active: (id: NodeId) => boolean): boolean {
  let n = 0;
  for (const id of voters) if (active(id)) n++;
  return n >= Math.floor(voters.length / 2) + 1;
}

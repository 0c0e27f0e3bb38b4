import type { Entry } from "../../raft/types.ts";
import { EntryType } from "../../raft/types.ts";
import { readCa } from "../security/ca-state.ts";
import type { RevisionedKv } from "../state/kv.ts";

/** The command that sets the mesh CA, as its JSON spells it in an entry (state/machine.ts encodeCommand). */
const SET_CA = Buffer.from('"type":"security.ca.set"');

/**
 * Whether this node's Raft state already holds the mesh CA: its restored snapshot, or a committed entry of its
 * log that sets it. Such a node belongs to a running cluster: it never opens a founding window, whatever became
 * of its certificate file, and it re-signs its own certificate with that CA once its log is replayed.
 */
export function raftStateHoldsCa(kv: Pick<RevisionedKv, "get">, entries: readonly Entry[], commit: number): boolean {
  if (readCa(kv) !== undefined) return true;
  return entries.some((e) => e.index <= commit && e.type === EntryType.Normal && Buffer.from(e.data).includes(SET_CA));
}

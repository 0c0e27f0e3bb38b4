import type { Entry } from "../../raft/types.ts";
import { EntryType } from "../../raft/types.ts";
import { readCa } from "../security/ca-state.ts";
import type { RevisionedKv } from "../state/kv.ts";
import { decodeCommand } from "../state/machine.ts";

/** The newline that ends an entry's proposal id (raft-control-node.ts applyEntry). */
const NEWLINE = 0x0a;

/** Whether an entry is the command that sets the mesh CA: its type, decoded, not a substring of its bytes. */
function setsCa(e: Entry): boolean {
  if (e.type !== EntryType.Normal) return false;
  const nl = e.data.indexOf(NEWLINE);
  try {
    return decodeCommand(nl < 0 ? e.data : e.data.subarray(nl + 1)).type === "security.ca.set";
  } catch {
    return false;
  }
}

/**
 * Whether this node's Raft state already holds the mesh CA: its restored snapshot, or a committed entry of its
 * log that sets it. Such a node belongs to a running cluster: it never opens a founding window, whatever became
 * of its certificate file, and it re-signs its own certificate with that CA once its log is replayed.
 */
export function raftStateHoldsCa(kv: Pick<RevisionedKv, "get">, entries: readonly Entry[], commit: number): boolean {
  if (readCa(kv) !== undefined) return true;
  return entries.some((e) => e.index <= commit && setsCa(e));
}

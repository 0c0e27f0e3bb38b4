import { type Message, MessageType } from "../raft/types.ts";

/**
 * Merges each run of appends that continue one another into one append. The
 * core sends an append per proposal (as etcd's raft does), so a leader that
 * took k proposals since the last flush queues k appends per follower, and
 * each follower would step, persist and answer each of them. Appending m1
 * then m2, where m2 starts right after m1's last entry in the same term, is
 * appending m1's entries followed by m2's with m2's (later) commit, so the
 * merged message leaves the follower in the same state with one answer.
 * Only adjacent messages merge: nothing is reordered.
 */
export function coalesceAppends(messages: readonly Message[], maxBytes = MAX_MERGED_BYTES): Message[] {
  const out: Message[] = [];
  let lastBytes = 0;
  /** The last output message when it is a merge made here (its entries array is ours to extend). */
  let merged: Message | undefined;
  for (const m of messages) {
    const prev = out.at(-1);
    const bytes = entryBytes(m);
    if (prev !== undefined && continues(prev, m) && lastBytes + bytes <= maxBytes) {
      if (merged === undefined) {
        merged = { ...prev, entries: [...prev.entries] };
        out[out.length - 1] = merged;
      }
      merged.entries.push(...m.entries);
      merged.commit = Math.max(merged.commit, m.commit);
      lastBytes += bytes;
    } else {
      out.push(m);
      merged = undefined;
      lastBytes = bytes;
    }
  }
  return out;
}

/** A merged append stays about the size the core makes one: a backlog must not become one huge message. */
const MAX_MERGED_BYTES = 1024 * 1024;

function entryBytes(m: Message): number {
  let n = 0;
  for (const e of m.entries) n += e.data.length;
  return n;
}

function continues(prev: Message, m: Message): boolean {
  return (
    prev.type === MessageType.App &&
    m.type === MessageType.App &&
    prev.to === m.to &&
    prev.from === m.from &&
    prev.term === m.term &&
    m.index === prev.index + prev.entries.length &&
    m.logTerm === (prev.entries.at(-1)?.term ?? prev.logTerm)
  );
}

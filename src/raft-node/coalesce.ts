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
export function coalesceAppends(messages: readonly Message[]): Message[] {
  const out: Message[] = [];
  for (const m of messages) {
    const prev = out.at(-1);
    if (prev !== undefined && continues(prev, m)) {
      out[out.length - 1] = {
        ...prev,
        entries: [...prev.entries, ...m.entries],
        commit: Math.max(prev.commit, m.commit),
      };
    } else {
      out.push(m);
    }
  }
  return out;
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

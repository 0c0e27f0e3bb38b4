import type { Entry, Message, Snapshot } from "./types.ts";
import { EntryType, MessageType } from "./types.ts";

const TYPES = new Set<string>(Object.values(MessageType));
const ENTRY_TYPES = new Set<string>(Object.values(EntryType));
/** Generated only inside the node; never accepted from the network. */
const LOCAL_ONLY = new Set<string>(["MsgHup", "MsgProp"]);

/**
 * Terms and indexes from the network must leave room to grow: a node that adopted a term of 2^53-1 could never
 * campaign again (term + 1 is no longer exact), so one such message would wedge the cluster for good. 2^52
 * leaves more elections than any cluster will hold.
 */
const COUNT_CEILING = 2 ** 52;

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0 && v < COUNT_CEILING;
}

function isId(v: unknown): v is string {
  return typeof v === "string" && v !== "";
}

function validEntry(e: unknown): e is Entry {
  if (e === null || typeof e !== "object") return false;
  const o = e as Record<string, unknown>;
  return (
    isCount(o.term) &&
    isCount(o.index) &&
    typeof o.type === "string" &&
    ENTRY_TYPES.has(o.type) &&
    o.data instanceof Uint8Array
  );
}

function validSnapshot(s: unknown, term: number): s is Snapshot {
  if (s === null || typeof s !== "object") return false;
  const o = s as Record<string, unknown>;
  const md = o.metadata as Record<string, unknown> | null | undefined;
  if (!(o.data instanceof Uint8Array) || md === null || typeof md !== "object") return false;
  if (!isCount(md.index) || !isCount(md.term) || md.index === 0 || md.term === 0 || md.term > term) return false;
  const cs = md.confState as Record<string, unknown> | null | undefined;
  if (cs === null || typeof cs !== "object") return false;
  return (
    Array.isArray(cs.voters) &&
    cs.voters.length > 0 &&
    cs.voters.every(isId) &&
    Array.isArray(cs.learners) &&
    cs.learners.every(isId)
  );
}

/**
 * True when a message from the network is well-formed for `self`. Raft's
 * invariants assume well-formed input, so anything else is dropped here.
 */
export function isValidNetworkMessage(m: unknown, self: string): m is Message {
  if (m === null || typeof m !== "object") return false;
  const o = m as Record<string, unknown>;
  if (typeof o.type !== "string" || !TYPES.has(o.type) || LOCAL_ONLY.has(o.type)) return false;
  if (!isId(o.from) || o.to !== self || o.from === self) return false;
  if (!isCount(o.term) || o.term === 0 || !isCount(o.logTerm) || !isCount(o.index) || !isCount(o.commit)) return false;
  if (!isCount(o.rejectHint) || !isCount(o.rejectHintTerm) || typeof o.reject !== "boolean") return false;
  if (!(o.context instanceof Uint8Array) || !Array.isArray(o.entries)) return false;
  if (o.logTerm > o.term) return false;
  let prevTerm = o.logTerm;
  let index = o.index;
  for (const e of o.entries as unknown[]) {
    if (!validEntry(e)) return false;
    // Entries must extend (index, logTerm) contiguously with non-decreasing terms no newer than the message.
    if (e.index !== ++index || e.term < prevTerm || e.term > o.term) return false;
    prevTerm = e.term;
  }
  if (o.entries.length > 0 && o.type !== "MsgApp") return false;
  if (o.type === "MsgSnap" && !validSnapshot(o.snapshot, o.term)) return false;
  return true;
}

/**
 * The data the Raft core exchanges with its driver. Plain objects only, so the
 * driver can persist them and the transport can map them onto proto/ 1:1.
 * Node ids are strings (operators name nodes: "n1", "cp-0").
 */

export type NodeId = string;

export const EntryType = { Normal: "normal", ConfChange: "confChange" } as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  /** Opaque to the core; empty for the no-op a new leader appends. */
  data: Uint8Array;
}

/** What must be on stable storage before any message that depends on it is sent. */
export interface HardState {
  term: number;
  vote: NodeId | "";
  commit: number;
}

export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMetadata {
  index: number;
  term: number;
  confState: ConfState;
}

export interface Snapshot {
  metadata: SnapshotMetadata;
  data: Uint8Array;
}

export const ConfChangeType = {
  AddVoter: "addVoter",
  AddLearner: "addLearner",
  RemoveNode: "removeNode",
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

/** One membership step; promoting a learner is AddVoter on an existing learner. */
export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque to the core (the driver keeps the peer's address here). */
  context?: Uint8Array;
}

export const MessageType = {
  Hup: "MsgHup",
  App: "MsgApp",
  AppResp: "MsgAppResp",
  Vote: "MsgVote",
  VoteResp: "MsgVoteResp",
  PreVote: "MsgPreVote",
  PreVoteResp: "MsgPreVoteResp",
  Heartbeat: "MsgHeartbeat",
  HeartbeatResp: "MsgHeartbeatResp",
  Snap: "MsgSnap",
  TimeoutNow: "MsgTimeoutNow",
  ReadIndex: "MsgReadIndex",
  ReadIndexResp: "MsgReadIndexResp",
  TransferLeader: "MsgTransferLeader",
  Prop: "MsgProp",
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** Term of the entry at `index` (MsgApp: the entry before `entries`). */
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  snapshot?: Snapshot;
  reject: boolean;
  /** On a rejected MsgAppResp: where the follower's log may diverge. */
  rejectHint: number;
  /** On a rejected MsgAppResp: the term at rejectHint, for fast backtracking. */
  rejectHintTerm: number;
  /** ReadIndex request context, echoed back. */
  context: Uint8Array;
}

export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

export const StateRole = {
  Follower: "follower",
  PreCandidate: "preCandidate",
  Candidate: "candidate",
  Leader: "leader",
} as const;
export type StateRole = (typeof StateRole)[keyof typeof StateRole];

/** Volatile state the driver may show (e.g. in /v1/cluster) but need not persist. */
export interface SoftState {
  lead: NodeId | "";
  role: StateRole;
}

/**
 * One batch of work for the driver, in this order: persist hardState, entries
 * and snapshot; then send messages; then apply snapshot and committedEntries;
 * then call advance().
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
  messages: Message[];
  committedEntries: Entry[];
  readStates: ReadState[];
}

/** Read access to the persisted log, implemented in memory here and on disk by raft-node. */
export interface Storage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at most maxBytes of data (always at least one entry). */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

/** A seeded source of randomness, injected so the core stays deterministic. */
export interface RandomSource {
  /** An integer in [0, n). */
  intn(n: number): number;
}

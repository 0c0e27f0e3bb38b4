import { MeshletError } from "../common/errors.ts";
import type { RevisionedKv } from "./state/kv.ts";
import type { Command } from "./state/machine.ts";

export type Consistency = "linearizable" | "stale";

/** No leader is known (election in progress, or no quorum). HTTP 503 + Retry-After. */
export class NoLeaderError extends MeshletError {
  constructor(message = "no leader is known; the cluster may be electing or without quorum") {
    super("ERR_NO_LEADER", message);
    this.name = "NoLeaderError";
  }
}

/** The deadline passed before the command was applied or the read confirmed. HTTP 503 + Retry-After. */
export class DeadlineError extends MeshletError {
  constructor(what: string, deadlineMs: number) {
    super("ERR_TIMEOUT", `${what} did not complete within ${deadlineMs} ms`);
    this.name = "DeadlineError";
  }
}

/**
 * This node cannot write its data dir and is one of several voters: it is
 * not caught up, so it cannot answer a linearizable read. HTTP 503 (another
 * member, or ?consistency=stale, can answer).
 */
export class NodeDegradedError extends MeshletError {
  constructor(reason: string) {
    super(
      "ERR_NODE_DEGRADED",
      `this node cannot write its data dir (${reason}) and may be behind the cluster; read from another member or with ?consistency=stale`,
    );
    this.name = "NodeDegradedError";
  }
}

/** The node is shutting down. HTTP 503. */
export class StoppingError extends MeshletError {
  constructor() {
    super("ERR_STOPPING", "the node is shutting down");
    this.name = "StoppingError";
  }
}

export interface Proposed<R = unknown> {
  /** Index of the entry that applied the command (= revision of its writes). */
  revision: number;
  result: R;
}

export interface NodeEvents {
  /** `leader` is "" when none is known. */
  leaderChange: (leader: string, term: number) => void;
  /** Entries up to `index` are applied to `kv`. */
  applied: (index: number) => void;
}

/**
 * The running control-plane node, as the HTTP API and the discovery service
 * see it. On a follower, propose() and linearizable reads are forwarded to the
 * leader; the caller never needs to know who leads.
 */
export interface ControlNode {
  readonly id: string;
  readonly term: number;
  /** The applied state; read-only for everyone but the state machine. */
  readonly kv: RevisionedKv;
  isLeader(): boolean;
  /** Leader id, or "" when unknown. */
  leader(): string;
  /** This node's commit index and the index it applied up to. */
  raftStatus(): { commit: number; applied: number };
  /**
   * Orders `command` through Raft and resolves with the handler's result once
   * it is applied on this node. Rejects with NoLeaderError / DeadlineError
   * (retryable), or with the handler's MeshletError (e.g. a revision mismatch).
   */
  propose<R = unknown>(command: Command, options: { deadlineMs: number }): Promise<Proposed<R>>;
  /**
   * Runs `fn` on the applied KV: for "linearizable", only after this node has
   * applied up to a ReadIndex the leader confirmed with a quorum.
   */
  read<T>(fn: (kv: RevisionedKv) => T, options: { consistency: Consistency; deadlineMs: number }): Promise<T>;
  on<E extends keyof NodeEvents>(event: E, listener: NodeEvents[E]): () => void;
}

/**
 * The driver's handle on one Raft node. The driver loops:
 *   tick() on a timer; step() each received message; then while hasReady():
 *   rd = ready(); persist rd.hardState, rd.entries, rd.snapshot; THEN send
 *   rd.messages; apply rd.snapshot and rd.committedEntries (calling
 *   applyConfChange for ConfChange entries); serve rd.readStates once applied
 *   reaches their index; advance().
 * A snapshot message's fate must be reported with reportSnapshot(), and an
 * unreachable peer with reportUnreachable(), or the leader waits on it.
 */

import { MeshletError } from "../common/errors.ts";
import { decodeConfChange, encodeConfChange, validateConfChange } from "./confchange.ts";
import { BootstrapError, NotLeaderError } from "./errors.ts";
import type { ProgressState } from "./progress.ts";
import { message, Raft } from "./raft.ts";
import type { MemoryStorage } from "./storage.ts";
import { cloneConfState } from "./storage.ts";
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  RandomSource,
  Ready,
  SoftState,
  StateRole,
  Storage,
} from "./types.ts";
import { isValidNetworkMessage } from "./validate.ts";

export interface RaftConfig {
  id: NodeId;
  /** Ticks; the actual timeout is randomized in [electionTick, 2*electionTick). */
  electionTick: number;
  heartbeatTick: number;
  /** The node reads its initial hard state, conf state and log from it. */
  storage: Storage;
  random: RandomSource;
  /** Last index the application applied (restart). */
  applied?: number;
  /** Bytes of entries per MsgApp. */
  maxSizePerMsg?: number;
  maxInflightMsgs?: number;
  maxCommittedSizePerReady?: number;
  checkQuorum?: boolean;
  preVote?: boolean;
  /**
   * Leader loss (default 0, off): a follower that has heard nothing from its leader for this many ticks runs a
   * pre-vote then, before its election timeout; voters refuse it while they heard the leader within as many
   * ticks. More than heartbeatTick, less than electionTick; needs preVote and checkQuorum.
   */
  leaderLossTick?: number;
  /** A random [0, leaderLossJitterTick) more ticks per follower and leader (default 0), from `random`. */
  leaderLossJitterTick?: number;
}

export interface Status {
  id: NodeId;
  term: number;
  vote: NodeId | "";
  commit: number;
  applied: number;
  lead: NodeId | "";
  role: StateRole;
  /** Ticks since this node last heard from a leader (meaningful on a follower). */
  leaderContactTicks: number;
  confState: ConfState;
  progress?: Map<NodeId, { match: number; next: number; state: ProgressState }>;
}

/** Status without the membership and progress copies: for callers that ask on every request. */
export type BasicStatus = Omit<Status, "confState" | "progress">;

/**
 * The leader-loss ticks must leave room for missed heartbeats (more than heartbeatTick) and come before the
 * election timeout; without pre-vote and check-quorum an early campaign would raise the term and depose a live
 * leader.
 */
function checkLeaderLoss(config: RaftConfig, tick: number, jitter: number, guarded: boolean): void {
  if (!Number.isInteger(jitter) || jitter < 0) throw new RangeError("leaderLossJitterTick must be an integer >= 0");
  if (tick === 0) {
    if (jitter > 0) throw new RangeError("leaderLossJitterTick needs leaderLossTick");
    return;
  }
  if (!Number.isInteger(tick) || tick <= config.heartbeatTick || tick >= config.electionTick)
    throw new RangeError("leaderLossTick must be an integer greater than heartbeatTick and less than electionTick");
  if (!guarded) throw new RangeError("leaderLossTick needs preVote and checkQuorum");
}

export class RawNode {
  readonly #raft: Raft;
  #prevSoft: SoftState;
  #prevHard: HardState;
  #lastReady: Ready | undefined = undefined;

  constructor(config: RaftConfig) {
    if (!(config.electionTick > config.heartbeatTick && config.heartbeatTick > 0)) {
      throw new RangeError("electionTick must be greater than heartbeatTick, and heartbeatTick positive");
    }
    const checkQuorum = config.checkQuorum ?? true;
    const preVote = config.preVote ?? true;
    const leaderLossTick = config.leaderLossTick ?? 0;
    const leaderLossJitterTick = config.leaderLossJitterTick ?? 0;
    checkLeaderLoss(config, leaderLossTick, leaderLossJitterTick, checkQuorum && preVote);
    this.#raft = new Raft({
      id: config.id,
      electionTick: config.electionTick,
      heartbeatTick: config.heartbeatTick,
      storage: config.storage,
      random: config.random,
      applied: config.applied ?? 0,
      maxSizePerMsg: config.maxSizePerMsg ?? 1024 * 1024,
      maxInflightMsgs: config.maxInflightMsgs ?? 256,
      maxCommittedSizePerReady: config.maxCommittedSizePerReady ?? 64 * 1024 * 1024,
      checkQuorum,
      preVote,
      leaderLossTick,
      leaderLossJitterTick,
    });
    this.#replayAppliedConfChanges();
    this.#prevSoft = this.#softState();
    this.#prevHard = this.#raft.hardState();
  }

  /**
   * The storage's conf state is the snapshot's; changes the application applied
   * after the snapshot are in the log, so replay them.
   */
  #replayAppliedConfChanges(): void {
    const log = this.#raft.log;
    const lo = log.firstIndex();
    if (log.applied < lo) return;
    for (const e of log.slice(lo, log.applied + 1, Number.POSITIVE_INFINITY)) {
      if (e.type !== "confChange") continue;
      try {
        this.#raft.applyConfChange(decodeConfChange(e.data));
      } catch {
        // a malformed change in the log changes nothing
      }
    }
  }

  /**
   * Bootstraps a brand-new cluster: writes one committed AddVoter entry per
   * voter at term 1. Every founding member bootstraps with the same list; a
   * node joining later starts from empty storage and learns the membership
   * from the leader's log or snapshot.
   */
  static bootstrap(storage: MemoryStorage, voters: NodeId[]): void {
    const { hardState } = storage.initialState();
    if (storage.lastIndex() !== 0 || hardState.term !== 0) throw new BootstrapError("storage is not empty");
    if (
      voters.length === 0 ||
      new Set(voters).size !== voters.length ||
      voters.some((v) => typeof v !== "string" || v === "")
    ) {
      throw new BootstrapError("voters must be distinct non-empty ids");
    }
    const entries: Entry[] = voters.map((nodeId, i) => ({
      term: 1,
      index: i + 1,
      type: "confChange",
      data: encodeConfChange({ type: "addVoter", nodeId }),
    }));
    storage.append(entries);
    storage.setHardState({ term: 1, vote: "", commit: entries.length });
  }

  tick(): void {
    this.#raft.tickFn();
  }

  /** Starts an election now (with pre-vote when enabled). */
  campaign(): void {
    this.#raft.hup("election");
  }

  /** Throws NotLeaderError (with the leader when known) or ProposalDroppedError. */
  propose(data: Uint8Array): void {
    this.#raft.propose([data]);
  }

  /** Proposes many entries at once: they travel in as few MsgApps as maxSizePerMsg allows. */
  proposeBatch(datas: Uint8Array[]): void {
    if (datas.length > 0) this.#raft.propose(datas);
  }

  /** Throws ConfChangeInvalidError, ConfChangeInProgressError, RemoveLastVoterError, NotLeaderError. */
  proposeConfChange(cc: ConfChange): void {
    validateConfChange(cc);
    this.#raft.proposeConfChange(cc, encodeConfChange(cc));
  }

  /** Feeds a message from the network. Malformed, misaddressed or stale messages are dropped. */
  step(m: Message): void {
    if (!isValidNetworkMessage(m, this.#raft.id)) return;
    try {
      this.#raft.step(m);
    } catch (err) {
      if (!(err instanceof MeshletError)) throw err;
    }
  }

  /**
   * Asks for a linearizable read: a ReadState with requestCtx appears in a later
   * Ready once the leader confirmed its leadership. Serve the read after
   * applying up to its index. Throws NotLeaderError when no leader is known.
   */
  readIndex(requestCtx: Uint8Array): void {
    const r = this.#raft;
    const m = message("MsgReadIndex", r.id, r.id, { context: requestCtx });
    if (r.role === "leader") r.handleReadIndex(m);
    else if (r.lead === "") throw new NotLeaderError("");
    else r.send({ ...m, to: r.lead });
  }

  /** Hands leadership to `to` (a voter); a follower forwards the request to its leader. */
  transferLeadership(to: NodeId): void {
    const r = this.#raft;
    if (r.role === "leader") r.handleTransferLeader(to);
    else if (r.lead !== "") r.send(message("MsgTransferLeader", r.lead, to));
  }

  /**
   * The transport could not deliver to `id` (its stream broke or its queue overflowed). A leader probes that
   * follower again; a follower whose own leader it is stops honouring the leader's lease, so it grants votes
   * and campaigns within one election timeout instead of two (see Raft.leaderUnreachable).
   */
  reportUnreachable(id: NodeId): void {
    const r = this.#raft;
    const pr = r.prs.get(id);
    if (r.role === "leader" && pr !== undefined && pr.state === "replicate") pr.becomeProbe();
    else if (r.role === "follower" && r.lead === id) r.leaderUnreachable();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.#raft.prs.get(id);
    if (this.#raft.role !== "leader" || pr === undefined || pr.state !== "snapshot") return;
    if (!ok) pr.pendingSnapshot = 0;
    // Wait for the follower's answer (or a heartbeat response) before probing again.
    pr.becomeProbe();
    pr.probeSent = true;
  }

  #softState(): SoftState {
    return { lead: this.#raft.lead, role: this.#raft.role };
  }

  hasReady(): boolean {
    const r = this.#raft;
    const soft = this.#softState();
    if (soft.lead !== this.#prevSoft.lead || soft.role !== this.#prevSoft.role) return true;
    const hs = r.hardState();
    const ph = this.#prevHard;
    if (hs.term !== ph.term || hs.vote !== ph.vote || hs.commit !== ph.commit) return true;
    return (
      r.log.unstable.snapshot !== undefined ||
      r.log.unstable.entries.length > 0 ||
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.log.hasNextCommittedEnts()
    );
  }

  /** Persist hardState, entries and snapshot BEFORE sending messages (see the file comment). */
  ready(): Ready {
    const r = this.#raft;
    const rd: Ready = {
      entries: r.log.unstable.entries.slice(),
      messages: r.msgs,
      committedEntries: r.log.nextCommittedEnts(),
      readStates: r.readStates,
    };
    const soft = this.#softState();
    if (soft.lead !== this.#prevSoft.lead || soft.role !== this.#prevSoft.role) rd.softState = soft;
    const hs = r.hardState();
    const ph = this.#prevHard;
    if (hs.term !== ph.term || hs.vote !== ph.vote || hs.commit !== ph.commit) rd.hardState = hs;
    if (r.log.unstable.snapshot !== undefined) rd.snapshot = r.log.unstable.snapshot;
    r.msgs = [];
    r.readStates = [];
    this.#lastReady = rd;
    return rd;
  }

  /** The driver finished the last Ready: persisted, sent and applied it. */
  advance(): void {
    const rd = this.#lastReady;
    if (rd === undefined) return;
    this.#lastReady = undefined;
    const log = this.#raft.log;
    if (rd.softState !== undefined) this.#prevSoft = rd.softState;
    if (rd.hardState !== undefined) this.#prevHard = rd.hardState;
    if (rd.snapshot !== undefined) {
      log.unstable.stableSnapTo(rd.snapshot.metadata.index);
      log.appliedTo(rd.snapshot.metadata.index);
    }
    const lastEnt = rd.entries[rd.entries.length - 1];
    if (lastEnt !== undefined) log.unstable.stableTo(lastEnt.index, lastEnt.term);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) log.appliedTo(lastApplied.index);
  }

  /** Called by the driver when it applies a committed ConfChange entry. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.#raft.applyConfChange(cc);
  }

  basicStatus(): BasicStatus {
    const r = this.#raft;
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      lead: r.lead,
      role: r.role,
      leaderContactTicks: r.leaderContactElapsed,
    };
  }

  status(): Status {
    const r = this.#raft;
    const s: Status = { ...this.basicStatus(), confState: cloneConfState(r.confState) };
    if (r.role === "leader") {
      s.progress = new Map();
      for (const [id, pr] of r.prs) s.progress.set(id, { match: pr.match, next: pr.next, state: pr.state });
    }
    return s;
  }
}

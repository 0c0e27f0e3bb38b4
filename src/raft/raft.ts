/**
 * The Raft state machine (Ongaro & Ousterhout, extended version). A role is a
 * swap of the step and tick functions, as in etcd-io/raft. Nothing here does
 * I/O: messages go to `msgs`, persistence is the driver's (see rawnode.ts).
 */
import { applyToConfState } from "./confchange.ts";
import { ConfChangeInProgressError, NotLeaderError, ProposalDroppedError } from "./errors.ts";
import { RaftLog } from "./log.ts";
import { Progress } from "./progress.ts";
import { committedIndex, hasQuorum, voteResult } from "./quorum.ts";
import { ReadOnly } from "./read-only.ts";
import { cloneConfState } from "./storage.ts";
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  MessageType,
  NodeId,
  RandomSource,
  ReadState,
  Snapshot,
  StateRole,
  Storage,
} from "./types.ts";

const EMPTY = new Uint8Array(0);
/** Context of a MsgVote sent after MsgTimeoutNow: voters grant it even while they have a leader. */
export const CAMPAIGN_TRANSFER = new TextEncoder().encode("CampaignTransfer");

export interface RaftOptions {
  id: NodeId;
  electionTick: number;
  heartbeatTick: number;
  storage: Storage;
  random: RandomSource;
  applied: number;
  maxSizePerMsg: number;
  maxInflightMsgs: number;
  maxCommittedSizePerReady: number;
  checkQuorum: boolean;
  preVote: boolean;
  /** Ticks of silence from a known leader after which a follower runs a pre-vote early; 0 = off (see tickElection). */
  leaderLossTick: number;
  /** The early pre-vote waits a further random [0, leaderLossJitterTick) ticks, drawn per leader from `random`. */
  leaderLossJitterTick: number;
}

export function message(type: MessageType, to: NodeId, from: NodeId, fields: Partial<Message> = {}): Message {
  return {
    type,
    to,
    from,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    rejectHintTerm: 0,
    context: EMPTY,
    ...fields,
  };
}

function isTransfer(ctx: Uint8Array): boolean {
  if (ctx.length !== CAMPAIGN_TRANSFER.length) return false;
  for (let i = 0; i < ctx.length; i++) if (ctx[i] !== CAMPAIGN_TRANSFER[i]) return false;
  return true;
}

type CampaignType = "preElection" | "election" | "transfer";

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId | "" = "";
  lead: NodeId | "" = "";
  role: StateRole = "follower";
  readonly log: RaftLog;
  prs = new Map<NodeId, Progress>();
  confState: ConfState = { voters: [], learners: [] };
  votes = new Map<NodeId, boolean>();
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  leadTransferee: NodeId | "" = "";
  /** Index of the last conf change the leader appended; a new one waits until it is applied. */
  pendingConfIndex = 0;
  readOnly = new ReadOnly();
  pendingReadIndexMessages: Message[] = [];

  electionElapsed = 0;
  /** Ticks since a message from the leader (MsgApp, MsgHeartbeat, MsgSnap); unlike electionElapsed, never reset by a timeout. */
  leaderContactElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  /** leaderLossTimeout plus this follower's jitter; drawn again at each reset, so per leader and term. */
  randomizedLeaderLossTimeout = 0;
  /**
   * Ticks left before this follower runs a pre-vote because the transport reported its leader's connection
   * broken (leaderUnreachable); 0 = none pending. Cleared by any word from the leader and by every role change.
   */
  brokenLeaderCountdown = 0;
  readonly electionTimeout: number;
  /** 0 when the leader-loss rule is off. */
  readonly leaderLossTimeout: number;
  readonly leaderLossJitter: number;
  readonly heartbeatTimeout: number;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly maxMsgSize: number;
  readonly maxInflight: number;
  readonly random: RandomSource;

  stepFn: (m: Message) => void;
  tickFn: () => void;

  constructor(o: RaftOptions) {
    this.id = o.id;
    this.electionTimeout = o.electionTick;
    this.heartbeatTimeout = o.heartbeatTick;
    this.checkQuorum = o.checkQuorum;
    this.preVote = o.preVote;
    this.leaderLossTimeout = o.leaderLossTick;
    this.leaderLossJitter = o.leaderLossJitterTick;
    this.maxMsgSize = o.maxSizePerMsg;
    this.maxInflight = o.maxInflightMsgs;
    this.random = o.random;
    this.log = new RaftLog(o.storage, o.maxCommittedSizePerReady);
    const { hardState, confState } = o.storage.initialState();
    this.applyConfState(confState);
    if (hardState.term > 0 || hardState.commit > 0 || hardState.vote !== "") this.loadState(hardState);
    if (o.applied > 0) this.log.appliedTo(o.applied);
    this.stepFn = this.stepFollower;
    this.tickFn = this.tickElection;
    this.becomeFollower(this.term, "");
  }

  loadState(hs: HardState): void {
    if (hs.commit < this.log.committed || hs.commit > this.log.lastIndex()) {
      throw new RangeError(
        `hard state commit ${hs.commit} is outside [${this.log.committed}, ${this.log.lastIndex()}]`,
      );
    }
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  isVoter(id: NodeId): boolean {
    return this.confState.voters.includes(id);
  }

  /** §5.2: only voters campaign, and not while a snapshot or a committed conf change is waiting. */
  promotable(): boolean {
    return this.isVoter(this.id) && this.log.unstable.snapshot === undefined;
  }

  send(m: Message): void {
    if (m.type !== "MsgVote" && m.type !== "MsgVoteResp" && m.type !== "MsgPreVote" && m.type !== "MsgPreVoteResp") {
      m.term = this.term;
    }
    this.msgs.push(m);
  }

  // ---- roles -------------------------------------------------------------

  reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = "";
    }
    this.lead = "";
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.brokenLeaderCountdown = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.votes = new Map();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.prs) {
      const fresh = new Progress(last + 1, this.maxInflight, pr.isLearner);
      if (id === this.id) fresh.match = last;
      this.prs.set(id, fresh);
    }
    this.pendingConfIndex = 0;
    // Reads waiting on leadership are dropped with it; clients retry them.
    this.readOnly = new ReadOnly();
    this.pendingReadIndexMessages = [];
  }

  resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + this.random.intn(this.electionTimeout);
    if (this.leaderLossTimeout > 0) {
      this.randomizedLeaderLossTimeout =
        this.leaderLossTimeout + (this.leaderLossJitter > 0 ? this.random.intn(this.leaderLossJitter) : 0);
    }
  }

  becomeFollower(term: number, lead: NodeId | ""): void {
    this.stepFn = this.stepFollower;
    this.reset(term);
    this.tickFn = this.tickElection;
    this.lead = lead;
    // A leader named here has just been heard from (its MsgApp, heartbeat or snapshot is being handled).
    if (lead !== "") this.leaderContactElapsed = 0;
    this.role = "follower";
  }

  becomeCandidate(): void {
    this.stepFn = this.stepCandidate;
    this.reset(this.term + 1);
    this.tickFn = this.tickElection;
    this.vote = this.id;
    this.role = "candidate";
  }

  becomePreCandidate(): void {
    // Pre-vote does not touch term or vote: a node that cannot win leaves the cluster undisturbed.
    this.stepFn = this.stepCandidate;
    this.votes = new Map();
    this.tickFn = this.tickElection;
    this.lead = "";
    this.role = "preCandidate";
  }

  becomeLeader(): void {
    this.stepFn = this.stepLeader;
    this.reset(this.term);
    this.tickFn = this.tickHeartbeat;
    this.lead = this.id;
    this.role = "leader";
    const self = this.prs.get(this.id);
    if (self !== undefined) self.becomeReplicate();
    // §5.4.2 / §8: a no-op of the new term lets the leader commit, and learn the commit index.
    this.appendEntries([{ term: 0, index: 0, type: "normal", data: EMPTY }]);
    // Conf changes wait until the no-op, an entry of this term, is applied (see confchange.ts).
    this.pendingConfIndex = this.log.lastIndex();
    this.bcastAppend();
  }

  // ---- ticks ---------------------------------------------------------------

  tickElection = (): void => {
    this.electionElapsed++;
    this.leaderContactElapsed++;
    // A turn after a broken leader (leaderUnreachable) comes before the randomised timeout, which would otherwise
    // let two followers whose timeouts fall on the same tick ask at once.
    if (this.brokenLeaderCountdown > 0) {
      if (--this.brokenLeaderCountdown === 0 && this.role === "follower") this.hup("election");
      return;
    }
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup("election");
      return;
    }
    // Leader loss: a follower that has heard nothing from the leader it knows for leaderLossTimeout (plus its
    // jitter, so two followers that lost it at once ask at different ticks) runs a pre-vote before its election
    // timeout, once: the pre-vote forgets the leader. The lease is untouched: a voter that still remembers the
    // leader ignores the pre-vote (step), so it wins only when a quorum has each given up on the leader this way
    // (or timed out); a leader that a majority still hears cannot be deposed by it.
    if (
      this.leaderLossTimeout > 0 &&
      this.role === "follower" &&
      this.lead !== "" &&
      this.leaderContactElapsed >= this.randomizedLeaderLossTimeout &&
      this.promotable()
    ) {
      this.hup("election");
    }
  };

  tickHeartbeat = (): void => {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        // §6.2 of the thesis: a leader that has not heard from a majority within an election timeout steps down.
        if (!hasQuorum(this.confState.voters, (id) => id === this.id || this.prs.get(id)?.recentActive === true)) {
          this.becomeFollower(this.term, "");
          return;
        }
        for (const [id, pr] of this.prs) if (id !== this.id) pr.recentActive = false;
      }
      if (this.role === "leader" && this.leadTransferee !== "") this.abortLeaderTransfer();
    }
    if (this.role !== "leader") return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.lastPendingContext());
    }
  };

  /**
   * The leader's connection broke (a killed process closes its sockets). The lease it held is given up
   * at once: from here this follower grants pre-votes and votes, and campaigns when the randomised part of
   * its timeout runs out, so two followers that both saw the break still draw different moments. If the
   * leader is alive after all, its next heartbeat restores everything, and the other voters, still in its
   * lease, refuse this node's pre-vote meanwhile: a broken link alone cannot depose a leader.
   */
  leaderUnreachable(): void {
    this.electionElapsed = Math.max(this.electionElapsed, this.electionTimeout);
    // Under the leader-loss rule (pre-vote and check-quorum guard it, see tickElection) the follower need not
    // wait for the randomised part of its timeout either. The followers that saw the same break take turns
    // instead of drawing lots: the first in id order among the voters left asks at its next tick, the second a
    // tick later, and so on, so two of them never split a vote by asking at once, and when the first cannot win
    // (its log is behind, or it alone lost the link) the next one asks a tick later. A report while a countdown
    // runs does not postpone it.
    if (this.leaderLossTimeout > 0 && this.brokenLeaderCountdown === 0 && this.lead !== "") {
      const others = this.confState.voters.filter((id) => id !== this.lead).sort();
      const rank = others.indexOf(this.id);
      if (rank >= 0) this.brokenLeaderCountdown = rank + 1;
    }
  }

  // ---- elections -------------------------------------------------------------

  hasUnappliedConfChanges(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    try {
      for (const e of this.log.slice(lo, this.log.committed + 1, Number.POSITIVE_INFINITY)) {
        if (e.type === "confChange") return true;
      }
    } catch {
      return true;
    }
    return false;
  }

  hup(t: CampaignType): void {
    if (this.role === "leader") return;
    if (!this.promotable()) return;
    // A committed conf change must take effect before this node decides whom to ask for votes.
    if (this.hasUnappliedConfChanges()) return;
    this.campaign(t === "election" && this.preVote ? "preElection" : t);
  }

  campaign(t: CampaignType): void {
    let term: number;
    let voteMsg: MessageType;
    if (t === "preElection") {
      this.becomePreCandidate();
      voteMsg = "MsgPreVote";
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteMsg = "MsgVote";
      term = this.term;
    }
    this.votes.set(this.id, true);
    if (voteResult(this.confState.voters, this.votes) === "won") {
      if (t === "preElection") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    for (const id of this.confState.voters) {
      if (id === this.id) continue;
      this.send(
        message(voteMsg, id, this.id, {
          term,
          index: this.log.lastIndex(),
          logTerm: this.log.lastTerm(),
          context: t === "transfer" ? CAMPAIGN_TRANSFER : EMPTY,
        }),
      );
    }
  }

  poll(from: NodeId, granted: boolean): void {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    const res = voteResult(this.confState.voters, this.votes);
    if (res === "won") {
      if (this.role === "preCandidate") this.campaign("election");
      else this.becomeLeader();
    } else if (res === "lost") {
      this.becomeFollower(this.term, "");
    }
  }

  // ---- step ------------------------------------------------------------------

  /** A message from a peer, already checked for shape by validate.ts. */
  step(m: Message): void {
    if (m.term > this.term) {
      if (m.type === "MsgVote" || m.type === "MsgPreVote") {
        const force = isTransfer(m.context);
        const inLease = this.checkQuorum && this.lead !== "" && this.electionElapsed < this.electionTimeout;
        // §6 of the thesis: while a node hears from a leader it ignores vote requests, so a removed or
        // partitioned server cannot depose a healthy leader.
        if (!force && inLease) return;
      }
      if (m.type === "MsgPreVote" || (m.type === "MsgPreVoteResp" && !m.reject)) {
        // a pre-vote neither changes our term nor proves anyone leader
      } else if (m.type === "MsgApp" || m.type === "MsgHeartbeat" || m.type === "MsgSnap") {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, "");
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === "MsgHeartbeat" || m.type === "MsgApp")) {
        // Tell a stale leader about the newer term, or it would never step down while pre-vote keeps
        // our term from rising.
        this.send(message("MsgAppResp", m.from, this.id));
      } else if (m.type === "MsgPreVote") {
        this.send(message("MsgPreVoteResp", m.from, this.id, { term: this.term, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case "MsgVote":
      case "MsgPreVote": {
        const canVote =
          this.vote === m.from ||
          (this.vote === "" && this.lead === "") ||
          (m.type === "MsgPreVote" && m.term > this.term);
        const respType = m.type === "MsgVote" ? "MsgVoteResp" : "MsgPreVoteResp";
        // §5.4.1: grant only to a candidate whose log is at least as up-to-date as ours.
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          this.send(message(respType, m.from, this.id, { term: m.term }));
          if (m.type === "MsgVote") {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send(message(respType, m.from, this.id, { term: this.term, reject: true }));
        }
        return;
      }
      default:
        this.stepFn(m);
    }
  }

  // ---- leader ----------------------------------------------------------------

  appendEntries(es: Entry[]): void {
    let li = this.log.lastIndex();
    for (const e of es) {
      e.term = this.term;
      e.index = ++li;
    }
    this.log.append(es);
    this.prs.get(this.id)?.maybeUpdate(li);
    this.maybeCommit();
  }

  /**
   * §5.4.2 (Figure 8): a leader commits by counting replicas only entries of its
   * own term; earlier entries are committed indirectly.
   */
  maybeCommit(): boolean {
    const mci = committedIndex(this.confState.voters, this.prs);
    if (mci > this.log.committed && this.log.term(mci) === this.term) {
      this.log.commitTo(mci);
      this.releasePendingReadIndexMessages();
      return true;
    }
    return false;
  }

  committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /** Sends a MsgApp (or a snapshot) to `to` if there is something to send; false otherwise. */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (pr === undefined || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    let ents: Entry[] | undefined;
    if (prevTerm !== undefined) {
      try {
        ents = this.log.entriesFrom(pr.next, this.maxMsgSize);
      } catch {
        ents = undefined;
      }
    }
    if (prevTerm === undefined || ents === undefined) return this.sendSnapshot(to, pr);
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send(
      message("MsgApp", to, this.id, {
        index: prevIndex,
        logTerm: prevTerm,
        entries: ents,
        commit: this.log.committed,
      }),
    );
    const last = ents[ents.length - 1];
    if (last !== undefined) {
      if (pr.state === "replicate") {
        pr.next = last.index + 1;
        pr.inflights.add(last.index);
      } else if (pr.state === "probe") {
        pr.probeSent = true;
      }
    } else if (pr.state === "probe") {
      pr.probeSent = true;
    }
    return true;
  }

  sendSnapshot(to: NodeId, pr: Progress): boolean {
    // §7: the follower needs entries we discarded; send the snapshot instead.
    if (!pr.recentActive) return false;
    const snap = this.log.snapshot();
    if (snap.metadata.index === 0) return false;
    pr.becomeSnapshot(snap.metadata.index);
    this.send(message("MsgSnap", to, this.id, { snapshot: snap }));
    return true;
  }

  bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.maybeSendAppend(id, true);
  }

  bcastHeartbeat(ctx: Uint8Array | undefined): void {
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      this.send(
        message("MsgHeartbeat", id, this.id, {
          // A follower must not commit past what it is known to hold.
          commit: Math.min(pr.match, this.log.committed),
          context: ctx ?? EMPTY,
        }),
      );
    }
  }

  stepLeader = (m: Message): void => {
    switch (m.type) {
      case "MsgReadIndex":
        this.handleReadIndex(m);
        return;
      case "MsgTransferLeader":
        this.handleTransferLeader(m.from);
        return;
    }
    const pr = this.prs.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case "MsgAppResp":
        pr.recentActive = true;
        this.handleAppendResponse(m, pr);
        return;
      case "MsgHeartbeatResp": {
        pr.recentActive = true;
        pr.probeSent = false;
        if (pr.state === "replicate" && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.log.lastIndex()) this.maybeSendAppend(m.from, true);
        if (m.context.length === 0) return;
        const acks = this.readOnly.recvAck(m.from, m.context);
        if (acks === undefined || !hasQuorum(this.confState.voters, (id) => acks.has(id))) return;
        for (const rs of this.readOnly.advance(m.context)) this.releaseRead(rs.req, rs.index);
        return;
      }
    }
  };

  handleAppendResponse(m: Message, pr: Progress): void {
    if (m.reject) {
      let next = m.rejectHint;
      if (m.rejectHintTerm > 0) next = this.log.findConflictByTerm(m.rejectHint, m.rejectHintTerm).index;
      if (pr.maybeDecrTo(m.index, next)) {
        if (pr.state === "replicate") pr.becomeProbe();
        this.maybeSendAppend(m.from, true);
      }
      return;
    }
    if (m.index > this.log.lastIndex()) return;
    const oldPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === "probe") {
      pr.becomeReplicate();
    } else if (pr.state === "snapshot" && pr.match + 1 >= this.log.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === "replicate") {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else if (oldPaused) {
      this.maybeSendAppend(m.from, true);
    }
    while (this.maybeSendAppend(m.from, false)) {
      // keep the pipeline full
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send(message("MsgTimeoutNow", m.from, this.id));
    }
  }

  handleReadIndex(m: Message): void {
    if (this.confState.voters.length === 1) {
      this.releaseRead(m, this.log.committed);
      return;
    }
    // §6.4: until the leader commits an entry of its term it does not know the commit index.
    if (!this.committedEntryInCurrentTerm()) {
      this.pendingReadIndexMessages.push(m);
      return;
    }
    this.readOnly.add(this.log.committed, m, this.id);
    this.bcastHeartbeat(m.context);
  }

  releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const pending = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of pending) this.handleReadIndex(m);
  }

  releaseRead(req: Message, index: number): void {
    if (req.from === this.id || req.from === "") {
      this.readStates.push({ index, requestCtx: req.context });
    } else {
      this.send(message("MsgReadIndexResp", req.from, this.id, { index, context: req.context }));
    }
  }

  handleTransferLeader(to: NodeId): void {
    const pr = this.prs.get(to);
    if (pr === undefined || pr.isLearner || !this.isVoter(to)) return;
    if (this.leadTransferee !== "") {
      if (this.leadTransferee === to) return;
      this.abortLeaderTransfer();
    }
    if (to === this.id) return;
    this.electionElapsed = 0;
    this.leadTransferee = to;
    // §3.10 of the thesis: catch the target up, then tell it to campaign at once.
    if (pr.match === this.log.lastIndex()) this.send(message("MsgTimeoutNow", to, this.id));
    else this.maybeSendAppend(to, true);
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = "";
  }

  // ---- candidate & follower ----------------------------------------------------

  stepCandidate = (m: Message): void => {
    switch (m.type) {
      case "MsgApp":
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case "MsgHeartbeat":
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case "MsgSnap":
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case "MsgPreVoteResp":
        if (this.role === "preCandidate") this.poll(m.from, !m.reject);
        return;
      case "MsgVoteResp":
        if (this.role === "candidate") this.poll(m.from, !m.reject);
        return;
    }
  };

  /** A MsgApp, heartbeat or snapshot from `lead`: its lease starts again and a pending broken-link campaign is off. */
  heardFromLeader(lead: NodeId): void {
    this.electionElapsed = 0;
    this.leaderContactElapsed = 0;
    this.brokenLeaderCountdown = 0;
    this.lead = lead;
  }

  stepFollower = (m: Message): void => {
    switch (m.type) {
      case "MsgApp":
        this.heardFromLeader(m.from);
        this.handleAppend(m);
        return;
      case "MsgHeartbeat":
        this.heardFromLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case "MsgSnap":
        this.heardFromLeader(m.from);
        this.handleSnapshot(m);
        return;
      case "MsgTimeoutNow":
        // Leadership transfer: campaign now, skipping pre-vote, and voters ignore their lease.
        if (this.promotable() && !this.hasUnappliedConfChanges()) this.campaign("transfer");
        return;
      case "MsgReadIndex":
        if (this.lead === "") throw new NotLeaderError("");
        this.send({ ...m, to: this.lead });
        return;
      case "MsgReadIndexResp":
        this.readStates.push({ index: m.index, requestCtx: m.context });
        return;
      case "MsgTransferLeader":
        if (this.lead !== "") this.send({ ...m, to: this.lead });
        return;
    }
  };

  handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send(message("MsgAppResp", m.from, this.id, { index: this.log.committed }));
      return;
    }
    const last = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (last !== undefined) {
      this.send(message("MsgAppResp", m.from, this.id, { index: last }));
      return;
    }
    // §5.3 with the fast backtracking of etcd: tell the leader the last index whose
    // term is ≤ the term it probed, so it skips a whole term per round trip.
    const hintIndex = Math.min(m.index, this.log.lastIndex());
    const hint = this.log.findConflictByTerm(hintIndex, m.logTerm);
    this.send(
      message("MsgAppResp", m.from, this.id, {
        index: m.index,
        reject: true,
        rejectHint: hint.index,
        rejectHintTerm: hint.term,
      }),
    );
  }

  handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send(message("MsgHeartbeatResp", m.from, this.id, { context: m.context }));
  }

  handleSnapshot(m: Message): void {
    const snap = m.snapshot;
    if (snap === undefined) return;
    if (this.restore(snap)) {
      this.send(message("MsgAppResp", m.from, this.id, { index: this.log.lastIndex() }));
    } else {
      this.send(message("MsgAppResp", m.from, this.id, { index: this.log.committed }));
    }
  }

  restore(snap: Snapshot): boolean {
    const { index, term } = snap.metadata;
    if (index <= this.log.committed || this.role !== "follower") return false;
    if (this.log.matchTerm(index, term)) {
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snap);
    this.applyConfState(snap.metadata.confState);
    return true;
  }

  // ---- membership --------------------------------------------------------------

  applyConfState(cs: ConfState): void {
    const next = new Map<NodeId, Progress>();
    const last = this.log.lastIndex();
    for (const id of [...cs.voters, ...cs.learners]) {
      const learner = !cs.voters.includes(id);
      const pr = this.prs.get(id) ?? new Progress(last + 1, this.maxInflight, learner);
      pr.isLearner = learner;
      if (id === this.id) pr.match = Math.max(pr.match, last);
      next.set(id, pr);
    }
    this.prs = next;
    this.confState = cloneConfState(cs);
  }

  /** The driver applied a committed ConfChange entry. Returns the new configuration. */
  applyConfChange(cc: ConfChange): ConfState {
    let cs: ConfState;
    try {
      cs = applyToConfState(this.confState, cc);
    } catch {
      // A no-op or malformed change in the log changes nothing.
      return cloneConfState(this.confState);
    }
    this.applyConfState(cs);
    if (this.role === "leader") {
      if (!this.isVoter(this.id)) {
        // The removed (or demoted) leader steps down; the rest elect a new one.
        this.becomeFollower(this.term, "");
      } else {
        if (this.leadTransferee !== "" && !this.isVoter(this.leadTransferee)) this.abortLeaderTransfer();
        if (this.maybeCommit()) this.bcastAppend();
        else for (const id of this.prs.keys()) if (id !== this.id) this.maybeSendAppend(id, false);
      }
    }
    return cloneConfState(this.confState);
  }

  checkCanPropose(): void {
    if (this.role !== "leader") throw new NotLeaderError(this.lead);
    if (this.leadTransferee !== "") throw new ProposalDroppedError("leadership transfer in progress");
    if (!this.prs.has(this.id)) throw new ProposalDroppedError("this node was removed from the cluster");
  }

  propose(datas: Uint8Array[]): void {
    this.checkCanPropose();
    this.appendEntries(datas.map((data) => ({ term: 0, index: 0, type: "normal", data })));
    this.bcastAppend();
  }

  proposeConfChange(cc: ConfChange, data: Uint8Array): void {
    this.checkCanPropose();
    if (this.pendingConfIndex > this.log.applied) throw new ConfChangeInProgressError();
    applyToConfState(this.confState, cc);
    this.appendEntries([{ term: 0, index: 0, type: "confChange", data }]);
    this.pendingConfIndex = this.log.lastIndex();
    this.bcastAppend();
  }
}

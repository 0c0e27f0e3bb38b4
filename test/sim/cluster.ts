/**
 * A deterministic cluster simulator: real RawNodes, a faulty network, crashes
 * that lose everything not yet persisted, compaction, membership changes and
 * leadership transfers, all driven by one seeded Rng. The safety properties of
 * the Raft paper (Figure 3) are checked as the run goes; liveness once faults stop.
 */

import { MeshletError } from "../../src/common/errors.ts";
import { decodeConfChange } from "../../src/raft/confchange.ts";
import { RawNode } from "../../src/raft/rawnode.ts";
import { MemoryStorage } from "../../src/raft/storage.ts";
import type { ConfChange, Entry, Message, NodeId, Ready } from "../../src/raft/types.ts";
import { CALM, type Faults, Network } from "./network.ts";
import { Rng } from "./rng.ts";
import { WriteSet } from "./state-machine.ts";

export class InvariantViolation extends Error {
  constructor(property: string, detail: string) {
    super(`${property}: ${detail}`);
    this.name = "InvariantViolation";
  }
}

export interface SimOptions {
  seed: number;
  nodes: 3 | 5;
  faultTicks: number;
  /** Bound on ticks, after faults stop, for a leader to emerge and every pending write to commit. */
  livenessTicks: number;
  checkQuorum: boolean;
  preVote: boolean;
  /** The leader-loss rule (RaftConfig.leaderLossTick, with its jitter); needs checkQuorum and preVote. */
  leaderLoss: boolean;
  trace?: (line: string) => void;
}

export interface SimResult {
  ticks: number;
  acked: number;
  reads: number;
  crashes: number;
  snapshotsSent: number;
  confChanges: number;
  transfers: number;
  maxTerm: number;
}

interface SimNode {
  id: NodeId;
  storage: MemoryStorage;
  raw: RawNode | undefined;
  sm: WriteSet;
  applied: number;
  /** Reads asked for, by context, with the newest acknowledged write position when they began. */
  asked: Map<string, number>;
  waiting: { ctx: string; index: number; required: number }[];
  leaderTerm: number;
}

const FAULTY: Faults = { drop: 0.05, duplicate: 0.03, longDelay: 0.03, maxDelay: 3, reorder: true };
const enc = new TextEncoder();
const dec = new TextDecoder();

function entryKey(e: Entry): string {
  return `${e.type}|${dec.decode(e.data)}`;
}

export class Simulator {
  readonly rng: Rng;
  readonly net: Network;
  readonly opts: SimOptions;
  now = 0;
  readonly nodes = new Map<NodeId, SimNode>();
  readonly spares: NodeId[] = [];
  /** Removed ids are never reused: a new incarnation would carry a stale log. */
  readonly retired = new Set<NodeId>();
  readonly leaderOfTerm = new Map<number, NodeId>();
  /**
   * Every entry any node committed or applied, by index: the committed log.
   * commitTerm bounds from above the term in which it was committed: the node's
   * term when it learned the commit.
   */
  readonly committed = new Map<number, { term: number; key: string; commitTerm: number }>();
  /** `${index}:${term}` -> `${prevTerm}|${key}` for every persisted entry (Log Matching). */
  readonly logKeys = new Map<string, string>();
  readonly acked = new Map<string, number>();
  maxAckedPosition = 0;
  readonly pendingWrites = new Set<string>();
  #faulty = true;
  #nextWrite = 0;
  #nextRead = 0;
  readonly result: SimResult = {
    ticks: 0,
    acked: 0,
    reads: 0,
    crashes: 0,
    snapshotsSent: 0,
    confChanges: 0,
    transfers: 0,
    maxTerm: 0,
  };

  constructor(opts: SimOptions) {
    this.opts = opts;
    this.rng = new Rng(opts.seed);
    this.net = new Network(this.rng);
    const ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
    for (let i = 0; i < 2; i++) this.spares.push(`n${opts.nodes + i + 1}`);
    for (const id of ids) {
      const storage = new MemoryStorage();
      RawNode.bootstrap(storage, ids);
      this.nodes.set(id, this.#newNode(id, storage));
    }
  }

  #trace(line: string): void {
    this.opts.trace?.(`t=${this.now} ${line}`);
  }

  #newNode(id: NodeId, storage: MemoryStorage): SimNode {
    const snap = storage.snapshot();
    const n: SimNode = {
      id,
      storage,
      raw: undefined,
      sm: WriteSet.decode(snap.data),
      applied: snap.metadata.index,
      asked: new Map(),
      waiting: [],
      leaderTerm: 0,
    };
    n.raw = new RawNode({
      id,
      electionTick: 10,
      heartbeatTick: 2,
      storage,
      random: this.rng,
      applied: snap.metadata.index,
      maxSizePerMsg: 64,
      maxInflightMsgs: 4,
      checkQuorum: this.opts.checkQuorum,
      preVote: this.opts.preVote,
      // As the control plane sets it: half the election timeout, then a jitter.
      ...(this.opts.leaderLoss ? { leaderLossTick: 5, leaderLossJitterTick: 3 } : {}),
    });
    return n;
  }

  alive(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.raw !== undefined);
  }

  leader(): { node: SimNode; raw: RawNode } | undefined {
    let best: { node: SimNode; raw: RawNode; term: number } | undefined;
    for (const n of this.nodes.values()) {
      if (n.raw === undefined) continue;
      const st = n.raw.status();
      if (st.role === "leader" && (best === undefined || st.term > best.term))
        best = { node: n, raw: n.raw, term: st.term };
    }
    return best;
  }

  // ---- the driver loop of one node -------------------------------------------

  process(n: SimNode): void {
    while (n.raw?.hasReady()) {
      const raw = n.raw;
      const rd = raw.ready();
      this.#persist(n, rd);
      if (this.#faulty && this.rng.chance(0.002)) {
        // persisted, but the messages were never sent
        this.crash(n);
        return;
      }
      for (const m of rd.messages) this.#send(m);
      if (rd.snapshot !== undefined) {
        n.sm = WriteSet.decode(rd.snapshot.data);
        n.applied = rd.snapshot.metadata.index;
      }
      for (const e of rd.committedEntries) this.#apply(n, raw, e);
      for (const rs of rd.readStates) {
        const ctx = dec.decode(rs.requestCtx);
        const required = n.asked.get(ctx);
        if (required === undefined) continue;
        n.asked.delete(ctx);
        n.waiting.push({ ctx, index: rs.index, required });
      }
      raw.advance();
      this.#serveReads(n);
    }
  }

  #persist(n: SimNode, rd: Ready): void {
    if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) {
      n.storage.append(rd.entries);
      this.#checkLogMatching(n, rd.entries);
    }
    if (rd.hardState !== undefined) {
      const before = n.storage.initialState().hardState.commit;
      n.storage.setHardState(rd.hardState);
      this.#checkCommitted(n, Math.max(before, n.storage.firstIndex() - 1), rd.hardState.commit);
    }
  }

  /** An entry a node marks committed is final: every node that commits the index holds the same entry. */
  #checkCommitted(n: SimNode, from: number, to: number): void {
    if (to <= from) return;
    const term = n.storage.initialState().hardState.term;
    for (const e of n.storage.entries(from + 1, to + 1, Number.POSITIVE_INFINITY)) this.#recordCommitted(n, e, term);
  }

  #recordCommitted(n: SimNode, e: Entry, commitTerm: number): void {
    const key = entryKey(e);
    const g = this.committed.get(e.index);
    if (g === undefined) {
      this.committed.set(e.index, { term: e.term, key, commitTerm });
      this.#checkCompletenessOf(e.index, e.term, commitTerm);
    } else if (g.term !== e.term || g.key !== key) {
      throw new InvariantViolation(
        "State Machine Safety",
        `${n.id} committed or applied ${e.index}:${e.term} ${key}, another node ${g.term} ${g.key}`,
      );
    }
  }

  #checkLogMatching(n: SimNode, ents: Entry[]): void {
    for (const e of ents) {
      let prev: number;
      try {
        prev = n.storage.term(e.index - 1);
      } catch {
        prev = -1;
      }
      const k = `${e.index}:${e.term}`;
      const v = `${prev}|${entryKey(e)}`;
      const seen = this.logKeys.get(k);
      if (seen === undefined) this.logKeys.set(k, v);
      else if (prev >= 0 && seen !== v && !seen.startsWith("-1|")) {
        throw new InvariantViolation("Log Matching", `${n.id} has ${k} as ${v}, another node as ${seen}`);
      }
    }
  }

  #apply(n: SimNode, raw: RawNode, e: Entry): void {
    this.#recordCommitted(n, e, raw.status().term);
    if (e.index !== n.applied + 1)
      throw new InvariantViolation("apply order", `${n.id} applied ${e.index} after ${n.applied}`);
    n.applied = e.index;
    if (e.type === "confChange") {
      raw.applyConfChange(decodeConfChange(e.data));
      return;
    }
    if (e.data.byteLength === 0) return;
    const id = dec.decode(e.data);
    n.sm.apply(id);
    if (!this.acked.has(id)) {
      const pos = n.sm.position.get(id) ?? 0;
      this.acked.set(id, pos);
      this.pendingWrites.delete(id);
      this.maxAckedPosition = Math.max(this.maxAckedPosition, pos);
    }
  }

  #serveReads(n: SimNode): void {
    if (n.waiting.length === 0) return;
    const still: SimNode["waiting"] = [];
    for (const r of n.waiting) {
      if (n.applied < r.index) {
        still.push(r);
        continue;
      }
      this.result.reads++;
      if (n.sm.count < r.required) {
        throw new InvariantViolation(
          "linearizable read",
          `${n.id} read ${r.ctx} saw ${n.sm.count} writes at index ${r.index}, but ${r.required} were acknowledged before it began`,
        );
      }
    }
    n.waiting = still;
  }

  /** Leader Completeness (§5.4): an entry committed in a term is in the log of every leader of a later term. */
  #checkCompletenessOf(index: number, term: number, commitTerm: number): void {
    for (const n of this.nodes.values()) {
      if (n.raw === undefined || n.leaderTerm <= commitTerm) continue;
      this.#checkHas(n, index, term);
    }
  }

  #checkHas(n: SimNode, index: number, term: number): void {
    if (index < n.storage.firstIndex()) return;
    let t: number;
    try {
      t = n.storage.term(index);
    } catch {
      t = -1;
    }
    if (t !== term) {
      throw new InvariantViolation(
        "Leader Completeness",
        `leader ${n.id} (term ${n.leaderTerm}) lacks committed ${index}:${term}`,
      );
    }
  }

  checkLeaders(): void {
    for (const n of this.nodes.values()) {
      if (n.raw === undefined) continue;
      const st = n.raw.status();
      this.result.maxTerm = Math.max(this.result.maxTerm, st.term);
      if (st.role !== "leader") {
        n.leaderTerm = 0;
        continue;
      }
      const other = this.leaderOfTerm.get(st.term);
      if (other !== undefined && other !== n.id) {
        throw new InvariantViolation("Election Safety", `${other} and ${n.id} both led term ${st.term}`);
      }
      if (n.leaderTerm !== st.term) {
        this.leaderOfTerm.set(st.term, n.id);
        n.leaderTerm = st.term;
        this.#trace(`${n.id} leads term ${st.term}`);
        for (const [index, c] of this.committed) if (c.commitTerm < st.term) this.#checkHas(n, index, c.term);
      }
    }
  }

  // ---- network -----------------------------------------------------------------

  #send(m: Message): void {
    const to = this.nodes.get(m.to);
    if (to === undefined || this.net.isBlocked(m.from, m.to)) {
      this.#lost(m, true);
      return;
    }
    if (!this.net.send(m, this.now)) this.#lost(m, false);
  }

  #lost(m: Message, unreachable: boolean): void {
    const from = this.nodes.get(m.from)?.raw;
    if (from === undefined) return;
    if (m.type === "MsgSnap") from.reportSnapshot(m.to, false);
    if (unreachable) from.reportUnreachable(m.to);
  }

  deliver(m: Message): void {
    const n = this.nodes.get(m.to);
    if (n?.raw === undefined || this.net.isBlocked(m.from, m.to)) {
      this.#lost(m, true);
      return;
    }
    n.raw.step(m);
    if (m.type === "MsgSnap") {
      this.result.snapshotsSent++;
      const from = this.nodes.get(m.from);
      if (from?.raw !== undefined) {
        from.raw.reportSnapshot(m.to, true);
        this.process(from);
      }
    }
    this.process(n);
  }

  // ---- faults and clients ------------------------------------------------------

  crash(n: SimNode): void {
    this.#trace(`crash ${n.id}`);
    this.result.crashes++;
    n.raw = undefined;
    n.asked.clear();
    n.waiting = [];
    n.leaderTerm = 0;
  }

  restart(n: SimNode): void {
    this.#trace(`restart ${n.id}`);
    const fresh = this.#newNode(n.id, n.storage);
    this.nodes.set(n.id, fresh);
  }

  propose(n: SimNode, id: string): boolean {
    try {
      n.raw?.propose(enc.encode(id));
    } catch (err) {
      if (err instanceof MeshletError) return false;
      throw err;
    }
    this.process(n);
    return true;
  }

  /** A client asks a random node, then follows its leader hint once (forwarding is the client's job). */
  clientWrite(): void {
    const n = this.rng.pick(this.alive());
    if (n?.raw === undefined) return;
    const id = `w${this.#nextWrite++}`;
    if (this.propose(n, id)) {
      this.pendingWrites.add(id);
      return;
    }
    const hint = this.nodes.get(n.raw.status().lead);
    if (hint !== undefined && this.propose(hint, id)) this.pendingWrites.add(id);
  }

  retryWrites(): void {
    const l = this.leader();
    if (l === undefined) return;
    for (const id of this.pendingWrites) if (!this.propose(l.node, id)) return;
  }

  clientRead(): void {
    const n = this.rng.pick(this.alive());
    if (n?.raw === undefined) return;
    const ctx = `r${this.#nextRead++}`;
    try {
      n.raw.readIndex(enc.encode(ctx));
    } catch (err) {
      if (err instanceof MeshletError) return;
      throw err;
    }
    n.asked.set(ctx, this.maxAckedPosition);
    this.process(n);
  }

  compact(n: SimNode): void {
    if (n.raw === undefined) return;
    const first = n.storage.firstIndex();
    if (n.applied < first + 4) return;
    const cs = n.raw.status().confState;
    n.storage.createSnapshot(n.applied, cs, n.sm.encode());
    n.storage.compact(n.applied - this.rng.intn(3));
    this.#trace(`compact ${n.id} at ${n.applied}`);
  }

  changeMembership(): void {
    const l = this.leader();
    if (l === undefined) return;
    const cs = l.raw.status().confState;
    const spare = this.spares.find(
      (id) => !this.retired.has(id) && !cs.voters.includes(id) && !cs.learners.includes(id),
    );
    const learner = this.rng.pick(cs.learners);
    const choice = this.rng.intn(3);
    let cc: ConfChange | undefined;
    if (choice === 0 && spare !== undefined) {
      if (!this.nodes.has(spare)) this.nodes.set(spare, this.#newNode(spare, new MemoryStorage()));
      cc = { type: "addLearner", nodeId: spare };
    } else if (choice === 1 && learner !== undefined) {
      cc = { type: "addVoter", nodeId: learner };
    } else if (choice === 2) {
      const members = cs.voters.length > 3 ? [...cs.voters, ...cs.learners] : cs.learners;
      const victim = this.rng.pick(members);
      if (victim !== undefined) cc = { type: "removeNode", nodeId: victim };
    }
    if (cc === undefined) return;
    try {
      l.raw.proposeConfChange(cc);
    } catch (err) {
      if (err instanceof MeshletError) return;
      throw err;
    }
    if (cc.type === "removeNode") this.retired.add(cc.nodeId);
    this.result.confChanges++;
    this.#trace(`propose ${cc.type} ${cc.nodeId} via ${l.node.id}`);
    this.process(l.node);
  }

  transfer(): void {
    const l = this.leader();
    if (l === undefined) return;
    const to = this.rng.pick(l.raw.status().confState.voters.filter((v) => v !== l.node.id));
    if (to === undefined) return;
    this.result.transfers++;
    this.#trace(`transfer ${l.node.id} -> ${to}`);
    l.raw.transferLeadership(to);
    this.process(l.node);
  }

  hostile(): void {
    const n = this.rng.pick(this.alive());
    if (n?.raw === undefined) return;
    const peers = [...this.nodes.keys()].filter((id) => id !== n.id);
    const base: Message = {
      type: "MsgApp",
      from: this.rng.pick(peers) ?? "x",
      to: n.id,
      term: 1 + this.rng.intn(3),
      logTerm: 0,
      index: this.rng.intn(50),
      entries: [],
      commit: this.rng.intn(1000),
      reject: false,
      rejectHint: 0,
      rejectHintTerm: 0,
      context: new Uint8Array(),
    };
    const corrupt: Record<string, unknown>[] = [
      { term: Number.NaN },
      { index: -5 },
      { type: "MsgBogus" },
      { type: "MsgProp", entries: [] },
      { type: "MsgHup" },
      { to: "nobody" },
      { from: n.id },
      { context: "not bytes" },
      { entries: [{ term: 1, index: 999, type: "normal", data: new Uint8Array() }] },
      {
        type: "MsgSnap",
        snapshot: { metadata: { index: 5, term: 1, confState: { voters: [], learners: [] } }, data: new Uint8Array() },
      },
      { entries: null },
    ];
    const m = { ...base, ...this.rng.pick(corrupt) } as unknown as Message;
    n.raw.step(m);
    this.process(n);
  }

  faultStep(): void {
    const r = this.rng;
    if (r.chance(0.3)) this.clientWrite();
    if (r.chance(0.1)) this.clientRead();
    if (this.now % 15 === 0) this.retryWrites();
    if (r.chance(0.01)) {
      const ids = r.shuffle([...this.nodes.keys()]);
      if (r.chance(0.5)) {
        const cut = 1 + r.intn(ids.length - 1);
        this.net.partition([ids.slice(0, cut), ids.slice(cut)]);
        this.#trace(`partition ${ids.slice(0, cut)} | ${ids.slice(cut)}`);
      } else {
        const [a, b] = ids;
        if (a !== undefined && b !== undefined) this.net.blocked.add(`${a}>${b}`);
        this.#trace(`one-way block ${a}>${b}`);
      }
    }
    if (r.chance(0.02)) this.net.heal();
    if (r.chance(0.01)) {
      const n = r.pick(this.alive());
      if (n !== undefined) this.crash(n);
    }
    const dead = [...this.nodes.values()].filter((n) => n.raw === undefined);
    if (r.chance(0.05)) {
      const n = r.pick(dead);
      if (n !== undefined) this.restart(n);
    }
    if (r.chance(0.03)) {
      const n = r.pick(this.alive());
      if (n !== undefined) this.compact(n);
    }
    if (r.chance(0.02)) this.changeMembership();
    if (r.chance(0.01)) this.transfer();
    if (r.chance(0.01)) this.hostile();
  }

  tick(): void {
    this.now++;
    for (const m of this.net.due(this.now)) {
      this.deliver(m);
      this.checkLeaders();
    }
    for (const n of this.nodes.values()) {
      if (n.raw === undefined) continue;
      n.raw.tick();
      this.process(n);
    }
    this.checkLeaders();
  }

  /** Faults stopped: a leader, no pending write, every member applied the leader's commit. */
  settled(): boolean {
    const l = this.leader();
    if (l === undefined || this.pendingWrites.size > 0) return false;
    const st = l.raw.status();
    for (const id of [...st.confState.voters, ...st.confState.learners]) {
      const n = this.nodes.get(id);
      if (n?.raw === undefined || n.applied < st.commit) return false;
    }
    return true;
  }

  run(): SimResult {
    this.net.faults = FAULTY;
    for (let i = 0; i < this.opts.faultTicks; i++) {
      this.faultStep();
      this.tick();
    }
    this.net.faults = CALM;
    this.#faulty = false;
    this.net.heal();
    for (const n of this.nodes.values()) if (n.raw === undefined) this.restart(n);
    const deadline = this.now + this.opts.livenessTicks;
    let settled = false;
    while (this.now < deadline) {
      if (this.now % 10 === 0) this.retryWrites();
      this.tick();
      if (this.settled()) {
        settled = true;
        break;
      }
    }
    if (!settled) {
      const l = this.leader();
      for (const n of this.nodes.values()) {
        const st = n.raw?.status();
        this.#trace(
          `${n.id} ${st?.role} term ${st?.term} commit ${st?.commit} applied ${n.applied} conf ${JSON.stringify(st?.confState)} ${JSON.stringify([...(st?.progress ?? [])])}`,
        );
      }
      throw new InvariantViolation(
        "liveness",
        `${this.opts.livenessTicks} ticks after faults stopped: leader ${l?.node.id ?? "none"}, ${this.pendingWrites.size} writes pending`,
      );
    }
    this.result.ticks = this.now;
    this.result.acked = this.acked.size;
    return this.result;
  }
}

export function runSeed(seed: number, trace?: (line: string) => void): SimResult {
  // Seeds cycle through cluster sizes and through the election options: half run as the control plane does
  // (check-quorum, pre-vote and the leader-loss rule), the other half cycle through check-quorum and pre-vote
  // without the rule, pre-vote alone, and neither, so the runs without check-quorum (where stale leaders live
  // long) are covered too.
  const variant = Math.floor(seed / 2) % 6;
  const leaderLoss = variant < 3;
  const opts: SimOptions = {
    seed,
    nodes: seed % 2 === 0 ? 3 : 5,
    faultTicks: 300,
    livenessTicks: 400,
    checkQuorum: leaderLoss || variant === 3,
    preVote: leaderLoss || variant !== 5,
    leaderLoss,
  };
  if (trace !== undefined) opts.trace = trace;
  return new Simulator(opts).run();
}

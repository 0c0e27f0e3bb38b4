import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { errorCode, MeshletError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { METRIC_PREFIX } from "../common/metrics.ts";
import { Counter, type Registry } from "../common/prom.ts";
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  type Entry,
  type NodeId,
  type ReadState,
  type Snapshot,
  type SoftState,
  StateRole,
} from "../raft/types.ts";
import { type Applier, type Driver, type StorageHealth, StorageUnavailableError } from "../raft-node/driver.ts";
import { ForwardError, type GrpcTransport } from "../raft-node/transport.ts";
import { MAX_ENTRY_BYTES } from "../raft-node/wal.ts";
import {
  type Consistency,
  type ControlNode,
  DeadlineError,
  NodeDegradedError,
  type NodeEvents,
  NoLeaderError,
  type Proposed,
  StoppingError,
} from "./node.ts";
import type { RevisionedKv } from "./state/kv.ts";
import { type Command, encodeCommand, type StateMachine } from "./state/machine.ts";
import { storedFromText, storedText } from "./state/value.ts";

/** Peer addresses of members, replicated so every node (and a restored snapshot) knows them. */
export const MEMBERS_PREFIX = "cluster/members/";
const RETRY_MS = 100;

export interface ClusterMember {
  id: NodeId;
  address: string;
  role: "voter" | "learner";
  matchIndex: number;
}

export class MemberError extends MeshletError {
  constructor(code: "ERR_EXISTS" | "ERR_NOT_FOUND" | "ERR_BAD_REQUEST", message: string) {
    super(code, message);
    this.name = "MemberError";
  }
}

interface Waiter {
  resolve: (p: Proposed) => void;
  reject: (err: unknown) => void;
}

interface ReadWaiter {
  index: number | undefined;
  done: () => void;
}

export interface RaftControlNodeOptions {
  id: NodeId;
  sm: StateMachine;
  logger: Logger;
  registry: Registry;
  encodeConfChange: (cc: ConfChange) => Uint8Array;
  decodeConfChange: (data: Uint8Array) => ConfChange;
  /** Addresses of the initial members (from --peers), which no membership entry carries. */
  peers: ReadonlyMap<NodeId, string>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NEWLINE = 0x0a;

/**
 * ControlNode on top of the Raft driver. Every proposal carries a proposal id
 * (`<node>:<boot nonce>:<n>` before the command JSON), so the proposer learns
 * its result when the entry applies on its own node, whether it proposed
 * locally or forwarded to the leader; that also gives read-your-writes on
 * followers.
 */
export class RaftControlNode implements ControlNode, Applier {
  readonly id: NodeId;
  readonly #o: RaftControlNodeOptions;
  readonly #sm: StateMachine;
  readonly #events = new EventEmitter();
  readonly #waiters = new Map<string, Waiter>();
  readonly #reads = new Map<string, ReadWaiter>();
  readonly #nonce = randomBytes(4).toString("hex");
  readonly #failed: Counter<"code">;
  #seq = 0;
  #driver: Driver | undefined;
  #transport: GrpcTransport | undefined;
  #lead: NodeId | "" = "";
  #stopping = false;

  constructor(o: RaftControlNodeOptions) {
    this.id = o.id;
    this.#o = o;
    this.#sm = o.sm;
    this.#events.setMaxListeners(0);
    this.#failed = new Counter({
      name: `${METRIC_PREFIX}proposals_failed_total`,
      help: "Proposals and linearizable reads that failed, by error code",
      labelNames: ["code"],
      registers: [o.registry],
    });
    o.sm.register("cluster.member", (c, { kv }) => {
      const key = MEMBERS_PREFIX + String(c.id);
      if (c.remove === true) kv.delete(key);
      else kv.put(key, storedFromText(String(c.address)));
      return undefined;
    });
  }

  /** Second construction step: the driver needs this node as its applier. */
  attach(driver: Driver, transport: GrpcTransport): void {
    this.#driver = driver;
    this.#transport = transport;
    for (const e of this.kv.range(MEMBERS_PREFIX))
      transport.setPeer(e.key.slice(MEMBERS_PREFIX.length), storedText(e.record.value));
  }

  get kv(): RevisionedKv {
    return this.#sm.kv;
  }

  get term(): number {
    return this.#drv().basicStatus().term;
  }

  raftStatus(): { commit: number; applied: number } {
    const s = this.#drv().basicStatus();
    return { commit: s.commit, applied: this.#drv().applied };
  }

  isLeader(): boolean {
    return this.#drv().basicStatus().role === StateRole.Leader;
  }

  /** Whether this node can persist (driver.ts): while it cannot, writes get 507. */
  storageHealth(): StorageHealth {
    return this.#drv().storageHealth;
  }

  /** Throws StorageUnavailableError while the data dir is failed: nothing that needs a write can be done. */
  #requireStorage(): void {
    const health = this.#drv().storageHealth;
    if (!health.ok) throw new StorageUnavailableError(health);
  }

  /**
   * While the data dir is failed, what a linearizable read may return: the
   * applied state when this node is the only voter and has applied all it
   * knows to be committed (nothing can commit without it meanwhile, so that
   * is the cluster's state), nothing otherwise.
   */
  #degradedRead<T>(fn: (kv: RevisionedKv) => T): { value: T } | undefined {
    const drv = this.#drv();
    const health = drv.storageHealth;
    if (health.ok) return undefined;
    const { voters } = drv.confState;
    if (voters.length === 1 && voters[0] === this.id && drv.appliedAllCommitted) return { value: fn(this.kv) };
    throw this.#fail(new NodeDegradedError(health.message));
  }

  /** Ticks since this follower last heard from its leader; 0 on the leader. */
  leaderContactTicks(): number {
    const s = this.#drv().basicStatus();
    return s.role === StateRole.Leader ? 0 : s.leaderContactTicks;
  }

  leader(): string {
    return this.#drv().basicStatus().lead;
  }

  on<E extends keyof NodeEvents>(event: E, listener: NodeEvents[E]): () => void {
    this.#events.on(event, listener);
    return () => this.#events.off(event, listener);
  }

  /** Stops accepting work and fails whatever waits. */
  stop(): void {
    this.#stopping = true;
    for (const w of this.#waiters.values()) w.reject(new StoppingError());
    this.#waiters.clear();
  }

  async propose<R = unknown>(command: Command, options: { deadlineMs: number }): Promise<Proposed<R>> {
    const pid = this.#pid();
    const data = encodeCommand(command, `${pid}\n`);
    return (await this.#submit(pid, data, false, options.deadlineMs, "proposal")) as Proposed<R>;
  }

  async read<T>(fn: (kv: RevisionedKv) => T, options: { consistency: Consistency; deadlineMs: number }): Promise<T> {
    if (options.consistency === "stale") return fn(this.kv);
    if (this.#stopping) throw new StoppingError();
    const degraded = this.#degradedRead(fn);
    if (degraded !== undefined) return degraded.value;
    const deadline = Date.now() + options.deadlineMs;
    const ctx = this.#pid();
    const waiter: ReadWaiter = { index: undefined, done: () => {} };
    this.#reads.set(ctx, waiter);
    try {
      const confirmed = new Promise<void>((resolve) => {
        waiter.done = resolve;
      });
      while (waiter.index === undefined || this.#drv().applied < waiter.index) {
        const degradedNow = this.#degradedRead(fn);
        if (degradedNow !== undefined) return degradedNow.value;
        if (Date.now() >= deadline)
          throw this.#fail(
            this.leader() === "" ? new NoLeaderError() : new DeadlineError("linearizable read", options.deadlineMs),
          );
        // The core drops a ReadIndex it cannot serve (no leader yet), so ask again until confirmed.
        if (waiter.index === undefined) {
          try {
            this.#drv().input((core) => core.readIndex(encoder.encode(ctx)));
          } catch (err) {
            if (!retryable(err)) throw this.#fail(err);
          }
        }
        await Promise.race([confirmed, sleep(Math.min(RETRY_MS * 3, Math.max(1, deadline - Date.now())))]);
      }
      return fn(this.kv);
    } finally {
      this.#reads.delete(ctx);
    }
  }

  /** Members with their roles and replication progress (progress is known on the leader only). */
  members(): ClusterMember[] {
    const status = this.#drv().status();
    const cs = this.#drv().confState;
    const address = (id: string) => this.#address(id);
    const match = (id: string) => (id === this.id ? status.commit : (status.progress?.get(id)?.match ?? 0));
    return [
      ...cs.voters.map((id) => ({ id, address: address(id), role: "voter" as const, matchIndex: match(id) })),
      ...cs.learners.map((id) => ({ id, address: address(id), role: "learner" as const, matchIndex: match(id) })),
    ];
  }

  async addMember(id: string, address: string, learner: boolean, deadlineMs: number): Promise<Proposed> {
    if (this.#isMember(this.#drv().confState, id)) throw new MemberError("ERR_EXISTS", `member ${id} already exists`);
    return this.#confChange(
      { type: learner ? ConfChangeType.AddLearner : ConfChangeType.AddVoter, nodeId: id },
      address,
      deadlineMs,
    );
  }

  async promote(id: string, deadlineMs: number): Promise<Proposed> {
    const cs = this.#drv().confState;
    if (cs.voters.includes(id)) throw new MemberError("ERR_EXISTS", `member ${id} is already a voter`);
    if (!cs.learners.includes(id)) throw new MemberError("ERR_NOT_FOUND", `no learner ${id}`);
    return this.#confChange({ type: ConfChangeType.AddVoter, nodeId: id }, this.#address(id), deadlineMs);
  }

  async removeMember(id: string, deadlineMs: number): Promise<Proposed> {
    if (!this.#isMember(this.#drv().confState, id)) throw new MemberError("ERR_NOT_FOUND", `no member ${id}`);
    return this.#confChange({ type: ConfChangeType.RemoveNode, nodeId: id }, "", deadlineMs);
  }

  /** Asks the leader to hand over to `to`; resolves once `to` leads. */
  async transferLeader(to: string, deadlineMs: number): Promise<void> {
    if (!this.#drv().confState.voters.includes(to)) throw new MemberError("ERR_NOT_FOUND", `no voter ${to}`);
    const deadline = Date.now() + deadlineMs;
    while (this.leader() !== to) {
      if (Date.now() >= deadline) throw this.#fail(new DeadlineError(`leadership transfer to ${to}`, deadlineMs));
      this.#drv().input((core) => core.transferLeadership(to));
      await sleep(RETRY_MS * 2);
    }
  }

  /** The transport's sink for proposals followers forward to this node. */
  async acceptForward(data: Uint8Array, confChange: boolean): Promise<void> {
    if (data.length > MAX_ENTRY_BYTES) throw tooLarge(data.length);
    if (!this.isLeader()) throw new ForwardError("ERR_NOT_LEADER", `${this.id} is not the leader`, this.leader());
    this.#drv().input((core) =>
      confChange ? core.proposeConfChange(this.#o.decodeConfChange(data)) : core.propose(data),
    );
  }

  // Applier: called by the driver, in log order.

  applyEntry(entry: Entry): void {
    // The proposal id is ASCII, so its newline's byte offset splits the entry without re-encoding the body.
    const nl = entry.data.indexOf(NEWLINE);
    const pid = nl < 0 ? "" : decoder.decode(entry.data.subarray(0, nl));
    const body = nl < 0 ? entry.data : entry.data.subarray(nl + 1);
    const r = this.#sm.apply(entry.index, entry.term, body);
    const w = this.#waiters.get(pid);
    if (w !== undefined) {
      this.#waiters.delete(pid);
      if (r.ok) w.resolve({ revision: r.revision, result: r.result });
      else w.reject(r.error);
    }
    this.#appliedTo(entry.index);
  }

  applyConfChange(entry: Entry, cc: ConfChange, _confState: ConfState): void {
    const ctx =
      cc.context === undefined || cc.context.length === 0
        ? {}
        : (JSON.parse(decoder.decode(cc.context)) as { address?: string; pid?: string });
    const remove = cc.type === ConfChangeType.RemoveNode;
    // Founding members' changes carry no address (it comes from --peers); they only advance the revision.
    const data =
      remove || ctx.address
        ? encodeCommand({ type: "cluster.member", id: cc.nodeId, address: ctx.address ?? "", remove })
        : new Uint8Array();
    this.#sm.apply(entry.index, entry.term, data);
    if (remove) this.#transport?.removePeer(cc.nodeId);
    else if (ctx.address) this.#transport?.setPeer(cc.nodeId, ctx.address);
    const w = ctx.pid === undefined ? undefined : this.#waiters.get(ctx.pid);
    if (w !== undefined && ctx.pid !== undefined) {
      this.#waiters.delete(ctx.pid);
      w.resolve({ revision: entry.index, result: undefined });
    }
    if (remove && cc.nodeId === this.id) this.#o.logger.warn("this node was removed from the cluster");
    this.#appliedTo(entry.index);
  }

  restore(snapshot: Snapshot): void {
    this.#sm.restore(snapshot.data);
    for (const e of this.kv.range(MEMBERS_PREFIX))
      this.#transport?.setPeer(e.key.slice(MEMBERS_PREFIX.length), storedText(e.record.value));
    this.#appliedTo(snapshot.metadata.index);
  }

  snapshotData(): Uint8Array {
    return this.#sm.snapshot();
  }

  readStates(states: readonly ReadState[]): void {
    for (const rs of states) {
      const w = this.#reads.get(decoder.decode(rs.requestCtx));
      if (w !== undefined && w.index === undefined) {
        w.index = rs.index;
        w.done();
      }
    }
  }

  softState(state: SoftState, term: number): void {
    if (state.lead === this.#lead) return;
    this.#lead = state.lead;
    this.#o.logger.info({ leader: state.lead, term }, "leader changed");
    this.#events.emit("leaderChange", state.lead, term);
  }

  /**
   * Resolves at the next change of leader, or after `ms`: a request that found
   * no leader (or a dead one) goes to the new one as soon as it is known.
   */
  #leaderChangeOr(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#events.off("leaderChange", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#events.once("leaderChange", done);
    });
  }

  #appliedTo(index: number): void {
    this.#events.emit("applied", index);
  }

  async #confChange(cc: ConfChange, address: string, deadlineMs: number): Promise<Proposed> {
    const pid = this.#pid();
    const full: ConfChange = { ...cc, context: encoder.encode(JSON.stringify({ address, pid })) };
    return this.#submit(pid, this.#o.encodeConfChange(full), true, deadlineMs, "membership change");
  }

  /** Proposes (or forwards) until accepted by a leader, then waits for the entry to apply here. */
  async #submit(
    pid: string,
    data: Uint8Array,
    confChange: boolean,
    deadlineMs: number,
    what: string,
  ): Promise<Proposed> {
    if (this.#stopping) throw new StoppingError();
    if (data.length > MAX_ENTRY_BYTES) throw this.#fail(tooLarge(data.length));
    try {
      this.#requireStorage();
    } catch (err) {
      throw this.#fail(err);
    }
    const deadline = Date.now() + deadlineMs;
    const applied = new Promise<Proposed>((resolve, reject) => this.#waiters.set(pid, { resolve, reject }));
    applied.catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    try {
      for (;;) {
        this.#requireStorage();
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw this.leader() === "" ? new NoLeaderError() : new DeadlineError(what, deadlineMs);
        const lead = this.leader();
        try {
          if (lead === this.id) {
            this.#drv().input((core) =>
              confChange ? core.proposeConfChange(this.#o.decodeConfChange(data)) : core.propose(data),
            );
            break;
          }
          if (lead !== "") {
            await this.#transport?.forward(lead, data, confChange, remaining);
            break;
          }
        } catch (err) {
          // The leader may have proposed it although the call failed (a link cut after delivery): proposing
          // it again could apply it twice (a put undoing a later one). Wait for this one to apply, or time out.
          if (err instanceof ForwardError && err.mayHaveProposed) break;
          if (!retryable(err)) throw err;
        }
        await this.#leaderChangeOr(Math.min(RETRY_MS, Math.max(1, deadline - Date.now())));
      }
      // The deadline fails the waiter itself: no second promise and no race per proposal.
      timer = setTimeout(
        () => this.#waiters.get(pid)?.reject(new DeadlineError(what, deadlineMs)),
        Math.max(1, deadline - Date.now()),
      );
      return await applied;
    } catch (err) {
      throw this.#fail(err);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      this.#waiters.delete(pid);
    }
  }

  #fail(err: unknown): unknown {
    this.#failed.inc({ code: errorCode(err) });
    return err;
  }

  #pid(): string {
    this.#seq++;
    return `${this.id}:${this.#nonce}:${this.#seq}`;
  }

  #address(id: string): string {
    const r = this.kv.get(MEMBERS_PREFIX + id);
    return r === undefined ? (this.#o.peers.get(id) ?? "") : storedText(r.value);
  }

  #isMember(cs: ConfState, id: string): boolean {
    return cs.voters.includes(id) || cs.learners.includes(id);
  }

  #drv(): Driver {
    if (this.#driver === undefined) throw new Error("RaftControlNode used before attach()");
    return this.#driver;
  }
}

/** A proposal the WAL could not write as one record (wal.ts): refused before it is proposed. HTTP 413. */
function tooLarge(bytes: number): MeshletError {
  return new MeshletError(
    "ERR_TOO_LARGE",
    `the proposal is ${bytes} bytes; a Raft entry holds at most ${MAX_ENTRY_BYTES} bytes (the WAL's record limit)`,
  );
}

function retryable(err: unknown): boolean {
  const code = errorCode(err);
  return code === "ERR_NOT_LEADER" || code === "ERR_NO_LEADER" || code === "ERR_PROPOSAL_DROPPED";
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

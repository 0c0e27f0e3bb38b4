import { errorMessage, MeshletError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { METRIC_PREFIX } from "../common/metrics.ts";
import { Counter, Gauge, Histogram, type Registry } from "../common/prom.ts";
import type { BasicStatus, Status } from "../raft/index.ts";
import {
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
  type Ready,
  type Snapshot,
  type SoftState,
  StateRole,
  type Storage,
} from "../raft/types.ts";
import type { Transport } from "./transport.ts";
import { type Wal, WalError } from "./wal.ts";

/** The Raft core as the driver uses it (src/raft's RawNode satisfies it structurally). */
export interface RaftCore {
  tick(): void;
  campaign(): void;
  propose(data: Uint8Array): void;
  proposeConfChange(cc: ConfChange): void;
  step(m: Message): void;
  readIndex(ctx: Uint8Array): void;
  transferLeadership(to: NodeId): void;
  reportUnreachable(id: NodeId): void;
  reportSnapshot(id: NodeId, ok: boolean): void;
  hasReady(): boolean;
  ready(): Ready;
  advance(): void;
  applyConfChange(cc: ConfChange): ConfState;
  status(): Status;
  basicStatus(): BasicStatus;
}

/** The in-memory log the core reads (src/raft's MemoryStorage), kept equal to the WAL by the driver. */
export interface RaftStorage extends Storage {
  append(entries: Entry[]): void;
  setHardState(hs: HardState): void;
  applySnapshot(snapshot: Snapshot): void;
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot;
  snapshotMetadata(): Snapshot["metadata"];
  compact(index: number): void;
}

/** What the driver hands to the state machine layer, in log order. */
export interface Applier {
  /** A committed normal entry (data may be empty: a new leader's no-op). */
  applyEntry(entry: Entry): void;
  /** A committed membership change, after the core applied it. */
  applyConfChange(entry: Entry, cc: ConfChange, confState: ConfState): void;
  restore(snapshot: Snapshot): void;
  snapshotData(): Uint8Array;
  readStates(states: readonly ReadState[]): void;
  softState(state: SoftState, term: number): void;
}

/** Whether the node can persist: "ok", or since when and why not. */
export type StorageHealth =
  | { ok: true }
  | {
      ok: false;
      /** ERR_NO_SPACE (disk or quota full) or ERR_DISK_IO (anything else that stops the node writing). */
      code: "ERR_NO_SPACE" | "ERR_DISK_IO";
      /** The failure, then the last probe's answer. */
      message: string;
      since: number;
      probes: number;
      nextProbeAt: number;
    };

/**
 * The node cannot persist (StorageHealth): it refuses what needs a write. HTTP
 * 507, gRPC RESOURCE_EXHAUSTED.
 */
export class StorageUnavailableError extends MeshletError {
  constructor(health: Extract<StorageHealth, { ok: false }>) {
    super(
      health.code,
      `this node cannot write to its data dir since ${new Date(health.since).toISOString()}: ${health.message}`,
    );
    this.name = "StorageUnavailableError";
  }
}

/** Delays between probes of a failed data dir: doubling from the first to the last. */
export const PROBE_BACKOFF_MS = { first: 250, max: 5_000 } as const;

export interface DriverOptions {
  core: RaftCore;
  storage: RaftStorage;
  wal: Wal;
  transport: Transport;
  applier: Applier;
  decodeConfChange: (data: Uint8Array) => ConfChange;
  logger: Logger;
  registry: Registry;
  tickMs: number;
  /** Take a snapshot after this many applied entries since the last one. */
  snapshotEvery: number;
  /** Entries kept in memory behind a snapshot, so slightly lagging followers need no snapshot. */
  keepEntries?: number;
  /**
   * A new core and storage built from what is on disk (wal.reload()), for a
   * node applied up to `applied`: how the driver comes back after its data
   * dir failed.
   */
  rebuild: (applied: number) => { core: RaftCore; storage: RaftStorage };
  /** The data dir failed or came back (the transport refuses peers meanwhile). */
  onStorage?: (health: StorageHealth) => void;
  /** Applying failed (a bug, not the disk); the loop has stopped and the process must exit. */
  onFatal: (err: unknown) => void;
}

/**
 * The one loop around the pure core: a timer ticks it; every input schedules
 * one pass that drains Ready: persist (one fsync for everything in the Ready:
 * group commit) → send → apply → advance. The fsync runs off the event loop;
 * inputs that arrive meanwhile are stepped into the core and land in the next
 * Ready, so bursts of proposals share an fsync. A leader sends its messages
 * before its own write completes (Raft thesis §10.2.1, as etcd does): the
 * entries they carry can commit only on a quorum, and nothing is applied or
 * acknowledged before the next Ready, which waits for this write. Every other
 * role sends after persisting (a vote or an append ack promises durability).
 *
 * When the data dir fails (a full disk, an I/O error), the node must not act
 * on what it could not persist: the core, which may hold such state (entries
 * and votes in a Ready that failed, acks counted for them), is dropped at once
 * and never asked for another Ready, so nothing it decided after the last
 * durable write leaves the node or is applied. The WAL is rolled back to its
 * last sync. Until a probe (bounded backoff) finds the dir writable, the node
 * has no core: it refuses writes (StorageUnavailableError), reports itself a
 * follower without a leader (so a leader steps down; its peers elect another),
 * and keeps what was applied for reads. Then a new core is built from the WAL
 * read back from disk, so memory and disk agree, and the node catches up like
 * one that restarted.
 */
export class Driver {
  readonly #o: DriverOptions;
  readonly #m: ReturnType<typeof driverMetrics>;
  #core: RaftCore | undefined;
  #storage: RaftStorage;
  /** Bumped at each failure and rebuild: callbacks of a write begun before it are stale. */
  #generation = 0;
  #health: StorageHealth = { ok: true };
  /** This node's id, for the status reported while there is no core. */
  readonly #id: NodeId;
  #probeTimer: NodeJS.Timeout | undefined;
  #probeDelayMs: number = PROBE_BACKOFF_MS.first;
  #timer: NodeJS.Timeout | undefined;
  #scheduled = false;
  #hardState: HardState = { term: 0, vote: "", commit: 0 };
  #applied = 0;
  #snapshotIndex = 0;
  #confState: ConfState = { voters: [], learners: [] };
  #lead: NodeId | "" = "";
  #role: StateRole = StateRole.Follower;
  /** A Ready's write is being synced: the next Ready waits for it. */
  #persisting = false;
  /** A local snapshot's file is being written (see #maybeSnapshot); no second one starts meanwhile. */
  #snapshotting = false;
  /** A local snapshot whose file is on disk, to be recorded in the log and the storage between two writes. */
  #snapshotWritten: Snapshot | undefined;
  #stopped = false;

  constructor(o: DriverOptions) {
    this.#o = o;
    this.#m = driverMetrics(o.registry);
    this.#core = o.core;
    this.#storage = o.storage;
    this.#id = o.core.basicStatus().id;
    const init = o.storage.initialState();
    this.#hardState = init.hardState;
    this.#confState = init.confState;
    const snapshot = o.storage.snapshotMetadata();
    this.#snapshotIndex = snapshot.index;
    this.#applied = snapshot.index;
  }

  /** The core's status, read without feeding it anything; without a core (storage failed), a follower's. */
  status(): Status {
    if (this.#core !== undefined) return this.#core.status();
    return { ...this.basicStatus(), confState: this.#confState };
  }

  /** As status(), without membership and progress: cheap enough for every request. */
  basicStatus(): BasicStatus {
    if (this.#core !== undefined) return this.#core.basicStatus();
    const { term, vote, commit } = this.#hardState;
    return {
      id: this.#id,
      term,
      vote,
      commit,
      applied: this.#applied,
      lead: "",
      role: StateRole.Follower,
      leaderContactTicks: 0,
    };
  }

  /** Whether the node can persist. */
  get storageHealth(): StorageHealth {
    return this.#health;
  }

  get applied(): number {
    return this.#applied;
  }

  get confState(): ConfState {
    return this.#confState;
  }

  start(): void {
    this.#timer = setInterval(() => {
      if (this.#core !== undefined) this.input((core) => core.tick());
    }, this.#o.tickMs);
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#probeTimer !== undefined) clearTimeout(this.#probeTimer);
  }

  /**
   * Feeds the core under the loop's discipline: errors propagate to the caller, then a pass is scheduled.
   * Throws StorageUnavailableError while the data dir is failed (there is no core to feed).
   */
  input<T>(fn: (core: RaftCore) => T): T {
    if (this.#stopped) throw new Error("driver stopped");
    const core = this.#core;
    if (core === undefined) throw new StorageUnavailableError(this.#health as Extract<StorageHealth, { ok: false }>);
    try {
      return fn(core);
    } finally {
      this.#schedule();
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#pass();
    });
  }

  #pass(): void {
    const core = this.#core;
    if (core === undefined) return;
    try {
      if (this.#snapshotWritten !== undefined && !this.#persisting && !this.#stopped) this.#finishSnapshot();
      while (!this.#stopped && !this.#persisting && this.#core === core && core.hasReady()) this.#handle(core.ready());
    } catch (err) {
      this.#fail(err);
    }
  }

  #fail(err: unknown): void {
    if (err instanceof WalError) {
      this.#storageFailed(err);
      return;
    }
    // Applying failed: a bug. Continuing could apply entries differently from the other nodes.
    this.#o.logger.fatal({ err: errorMessage(err) }, "Raft loop failed; stopping the node");
    this.stop();
    this.#o.onFatal(err);
  }

  /** See the class comment: drop the core, roll the WAL back, refuse writes, probe. */
  #storageFailed(err: WalError): void {
    if (this.#stopped || this.#core === undefined) return;
    this.#core = undefined;
    this.#generation++;
    this.#persisting = false;
    this.#snapshotting = false;
    this.#snapshotWritten = undefined;
    const code = err.code === "ERR_NO_SPACE" ? "ERR_NO_SPACE" : "ERR_DISK_IO";
    const now = Date.now();
    this.#probeDelayMs = PROBE_BACKOFF_MS.first;
    this.#health = {
      ok: false,
      code,
      message: err.message,
      since: now,
      probes: 0,
      nextProbeAt: now + this.#probeDelayMs,
    };
    this.#o.logger.error(
      { code: err.code, err: err.message },
      "the data dir failed: refusing writes, serving reads, probing until it is writable again",
    );
    this.#m.storageDegraded.set(1);
    this.#m.storageFailures.inc({ code: err.code });
    try {
      this.#o.wal.rollback();
    } catch (rollbackErr) {
      this.#o.logger.warn({ err: errorMessage(rollbackErr) }, "WAL rollback failed; retrying with the probes");
    }
    this.#setLead("", StateRole.Follower);
    this.#applyDurableCommitted();
    this.#o.onStorage?.(this.#health);
    this.#probeLater();
  }

  /**
   * Applies the entries the failed Ready would have applied: committed (by
   * the core's last commit index) and on disk since an earlier write, which
   * together mean a quorum holds them durably. Another node may already have
   * applied and acknowledged them. A membership change needs the core: it and
   * what follows wait for the rebuild.
   */
  #applyDurableCommitted(): void {
    const last = Math.min(this.#hardState.commit, this.#storage.lastIndex());
    if (last <= this.#applied) return;
    for (const e of this.#storage.entries(this.#applied + 1, last + 1, Number.POSITIVE_INFINITY)) {
      if (e.type === EntryType.ConfChange) return;
      this.#o.applier.applyEntry(e);
      this.#applied = e.index;
    }
  }

  /**
   * Whether everything known to be committed is applied: always, but for a
   * node whose data dir failed with a membership change still to apply.
   */
  get appliedAllCommitted(): boolean {
    return this.#applied >= Math.min(this.#hardState.commit, this.#storage.lastIndex());
  }

  #probeLater(): void {
    if (this.#stopped) return;
    this.#probeTimer = setTimeout(() => this.#probe(), this.#probeDelayMs);
    this.#probeTimer.unref();
  }

  /** Once the WAL is rolled back and the dir takes a write: a new core and storage from disk, and on. */
  #probe(): void {
    const health = this.#health;
    if (this.#stopped || health.ok) return;
    let rebuilt: { core: RaftCore; storage: RaftStorage };
    try {
      this.#o.wal.probe();
      rebuilt = this.#o.rebuild(this.#applied);
    } catch (err) {
      this.#m.storageProbes.inc({ result: "failed" });
      this.#probeDelayMs = Math.min(this.#probeDelayMs * 2, PROBE_BACKOFF_MS.max);
      this.#health = {
        ...health,
        message: errorMessage(err),
        probes: health.probes + 1,
        nextProbeAt: Date.now() + this.#probeDelayMs,
      };
      this.#o.logger.debug({ err: errorMessage(err), nextMs: this.#probeDelayMs }, "data dir still failing");
      this.#probeLater();
      return;
    }
    this.#m.storageProbes.inc({ result: "ok" });
    const { core, storage } = rebuilt;
    this.#storage = storage;
    this.#hardState = storage.initialState().hardState;
    const snapshot = storage.snapshotMetadata();
    this.#snapshotIndex = snapshot.index;
    if (snapshot.index > this.#applied) {
      // A snapshot from the leader reached the disk but not the state machine before the failure.
      this.#o.applier.restore(storage.snapshot());
      this.#applied = snapshot.index;
      this.#confState = snapshot.confState;
    }
    this.#core = core;
    this.#generation++;
    this.#health = { ok: true };
    this.#m.storageDegraded.set(0);
    this.#o.logger.warn({ since: new Date(health.since).toISOString() }, "the data dir is writable again; rejoining");
    this.#o.onStorage?.(this.#health);
    this.#schedule();
  }

  #setLead(lead: NodeId | "", role: StateRole): void {
    this.#role = role;
    if (lead === this.#lead) return;
    this.#lead = lead;
    this.#m.leaderChanges.inc();
    this.#o.applier.softState({ lead, role }, this.#hardState.term);
  }

  #handle(rd: Ready): void {
    const { wal, transport } = this.#o;
    const storage = this.#storage;
    if (rd.hardState !== undefined) this.#hardState = rd.hardState;
    if (rd.softState !== undefined) this.#role = rd.softState.role;
    // 1. Persist (the leader's messages go out first, see the class comment).
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > this.#snapshotIndex) {
      wal.installSnapshot(rd.snapshot, this.#hardState);
      storage.applySnapshot(rd.snapshot);
      this.#snapshotIndex = rd.snapshot.metadata.index;
      this.#m.snapshots.inc({ origin: "received" });
    }
    const sentEarly = this.#role === StateRole.Leader && rd.messages.length > 0;
    if (sentEarly) transport.send(rd.messages);
    const syncing = wal.saveAsync(rd.hardState, rd.entries);
    if (syncing === undefined) {
      this.#persisted(rd, sentEarly);
      return;
    }
    this.#persisting = true;
    const generation = this.#generation;
    syncing.then(
      () => {
        if (this.#stopped || generation !== this.#generation) return;
        this.#persisting = false;
        try {
          this.#persisted(rd, sentEarly);
        } catch (err) {
          this.#fail(err);
          return;
        }
        this.#pass();
      },
      (err: unknown) => {
        if (this.#stopped || generation !== this.#generation) return;
        this.#persisting = false;
        this.#fail(err);
      },
    );
  }

  /** The Ready's write is durable: send (unless already sent), apply, advance. */
  #persisted(rd: Ready, sentEarly: boolean): void {
    const { transport, applier } = this.#o;
    const core = this.#core;
    const storage = this.#storage;
    if (core === undefined) return;
    if (rd.entries.length > 0) storage.append(rd.entries);
    if (rd.hardState !== undefined) storage.setHardState(rd.hardState);
    // 2. Send.
    if (!sentEarly && rd.messages.length > 0) transport.send(rd.messages);
    // 3. Apply.
    if (rd.softState !== undefined) {
      if (rd.softState.lead !== this.#lead) {
        this.#lead = rd.softState.lead;
        this.#m.leaderChanges.inc();
      }
      applier.softState(rd.softState, this.#hardState.term);
    }
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > this.#applied) {
      applier.restore(rd.snapshot);
      this.#applied = rd.snapshot.metadata.index;
      this.#confState = rd.snapshot.metadata.confState;
    }
    for (const e of rd.committedEntries) {
      if (e.index <= this.#applied) continue;
      if (e.type === EntryType.ConfChange) {
        const cc = this.#o.decodeConfChange(e.data);
        this.#confState = core.applyConfChange(cc);
        applier.applyConfChange(e, cc, this.#confState);
      } else {
        applier.applyEntry(e);
      }
      this.#applied = e.index;
    }
    if (rd.readStates.length > 0) applier.readStates(rd.readStates);
    this.#m.term.set(this.#hardState.term);
    this.#m.commit.set(this.#hardState.commit);
    this.#m.applied.set(this.#applied);
    // 4. Advance.
    core.advance();
    this.#maybeSnapshot();
  }

  /**
   * Takes a snapshot every `snapshotEvery` applied entries. The state is
   * encoded here, at the applied index; its file is written off the event
   * loop, and the log is compacted once it is on disk (#finishSnapshot).
   */
  #maybeSnapshot(): void {
    if (this.#snapshotting || this.#applied - this.#snapshotIndex < this.#o.snapshotEvery) return;
    const { wal, applier } = this.#o;
    const storage = this.#storage;
    const index = this.#applied;
    const snap: Snapshot = {
      metadata: {
        index,
        term: storage.term(index),
        confState: { voters: [...this.#confState.voters], learners: [...this.#confState.learners] },
      },
      data: applier.snapshotData(),
    };
    this.#snapshotting = true;
    const generation = this.#generation;
    wal.writeSnapshot(snap).then(
      () => {
        if (this.#stopped || generation !== this.#generation) return;
        this.#snapshotWritten = snap;
        this.#schedule();
      },
      (err: unknown) => {
        if (!this.#stopped && generation === this.#generation) this.#fail(err);
      },
    );
  }

  /** Only between two writes: marking the snapshot in the WAL starts a new segment. */
  #finishSnapshot(): void {
    const snap = this.#snapshotWritten;
    this.#snapshotWritten = undefined;
    this.#snapshotting = false;
    // A snapshot from the leader may have replaced the log while the file was being written.
    if (snap === undefined || snap.metadata.index <= this.#snapshotIndex) return;
    const { wal } = this.#o;
    const storage = this.#storage;
    const { index, term, confState } = snap.metadata;
    wal.markSnapshot(index, term);
    storage.createSnapshot(index, confState, snap.data);
    this.#snapshotIndex = index;
    const keep = this.#o.keepEntries ?? 1_000;
    if (index - keep > storage.firstIndex()) storage.compact(index - keep);
    this.#m.snapshots.inc({ origin: "local" });
  }

  /** Records an fsync duration (seconds); wired to the WAL by whoever opens it. */
  static fsyncObserver(registry: Registry): (seconds: number) => void {
    const h = new Histogram({
      name: `${METRIC_PREFIX}wal_fsync_duration_seconds`,
      help: "Duration of each WAL fsync (one per group of Raft writes)",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    });
    return (s) => h.observe(s);
  }
}

function driverMetrics(registry: Registry) {
  const registers = [registry];
  return {
    term: new Gauge({ name: `${METRIC_PREFIX}raft_term`, help: "Current Raft term", registers }),
    commit: new Gauge({ name: `${METRIC_PREFIX}raft_commit_index`, help: "Highest committed log index", registers }),
    applied: new Gauge({ name: `${METRIC_PREFIX}raft_applied_index`, help: "Highest applied log index", registers }),
    leaderChanges: new Counter({
      name: `${METRIC_PREFIX}raft_leader_changes_total`,
      help: "Times the known leader changed",
      registers,
    }),
    snapshots: new Counter({
      name: `${METRIC_PREFIX}raft_snapshots_total`,
      help: "Snapshots taken locally or received from the leader",
      labelNames: ["origin"],
      registers,
    }),
    storageDegraded: new Gauge({
      name: `${METRIC_PREFIX}storage_degraded`,
      help: "1 while the data dir cannot be written (writes refused with 507, reads served)",
      registers,
    }),
    storageFailures: new Counter({
      name: `${METRIC_PREFIX}storage_failures_total`,
      help: "Times writing the data dir failed and the node stopped taking writes, by error code",
      labelNames: ["code"],
      registers,
    }),
    storageProbes: new Counter({
      name: `${METRIC_PREFIX}storage_probes_total`,
      help: "Probes of a failed data dir, by result",
      labelNames: ["result"],
      registers,
    }),
  };
}

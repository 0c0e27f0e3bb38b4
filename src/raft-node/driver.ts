import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { errorMessage } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { METRIC_PREFIX } from "../common/metrics.ts";
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
import type { Wal } from "./wal.ts";

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
  /** Persisting or applying failed; the loop has stopped and the process must exit. */
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
 */
export class Driver {
  readonly #o: DriverOptions;
  readonly #m: ReturnType<typeof driverMetrics>;
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
    const init = o.storage.initialState();
    this.#hardState = init.hardState;
    this.#confState = init.confState;
    const snapshot = o.storage.snapshotMetadata();
    this.#snapshotIndex = snapshot.index;
    this.#applied = snapshot.index;
  }

  /** The core's status, read without feeding it anything. */
  status(): Status {
    return this.#o.core.status();
  }

  /** As status(), without membership and progress: cheap enough for every request. */
  basicStatus(): BasicStatus {
    return this.#o.core.basicStatus();
  }

  get applied(): number {
    return this.#applied;
  }

  get confState(): ConfState {
    return this.#confState;
  }

  start(): void {
    this.#timer = setInterval(() => this.#input(() => this.#o.core.tick()), this.#o.tickMs);
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }

  /** Feeds the core under the loop's discipline: errors propagate to the caller, then a pass is scheduled. */
  input<T>(fn: (core: RaftCore) => T): T {
    return this.#input(() => fn(this.#o.core));
  }

  #input<T>(fn: () => T): T {
    if (this.#stopped) throw new Error("driver stopped");
    try {
      return fn();
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
    const { core } = this.#o;
    try {
      if (this.#snapshotWritten !== undefined && !this.#persisting && !this.#stopped) this.#finishSnapshot();
      while (!this.#stopped && !this.#persisting && core.hasReady()) this.#handle(core.ready());
    } catch (err) {
      this.#fail(err);
    }
  }

  #fail(err: unknown): void {
    // Persisting or applying failed: continuing could ack writes that are not durable.
    this.#o.logger.fatal({ err: errorMessage(err) }, "Raft loop failed; stopping the node");
    this.stop();
    this.#o.onFatal(err);
  }

  #handle(rd: Ready): void {
    const { storage, wal, transport } = this.#o;
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
    syncing.then(
      () => {
        this.#persisting = false;
        if (this.#stopped) return;
        try {
          this.#persisted(rd, sentEarly);
        } catch (err) {
          this.#fail(err);
          return;
        }
        this.#pass();
      },
      (err: unknown) => {
        this.#persisting = false;
        if (!this.#stopped) this.#fail(err);
      },
    );
  }

  /** The Ready's write is durable: send (unless already sent), apply, advance. */
  #persisted(rd: Ready, sentEarly: boolean): void {
    const { core, storage, transport, applier } = this.#o;
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
    const { storage, wal, applier } = this.#o;
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
    wal.writeSnapshot(snap).then(
      () => {
        if (this.#stopped) return;
        this.#snapshotWritten = snap;
        this.#schedule();
      },
      (err: unknown) => {
        if (!this.#stopped) this.#fail(err);
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
    const { storage, wal } = this.#o;
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
  };
}

import { compareStrings } from "../../common/compare.ts";
import { MeshletError } from "../../common/errors.ts";
import type { StoredValue } from "./value.ts";

/** One stored key. `revision` = Raft index of its last write, `createRevision` = of the write that created it. */
export interface KvRecord {
  value: StoredValue;
  revision: number;
  createRevision: number;
}

export interface KvListed {
  key: string;
  record: KvRecord;
}

/** One change, as replayed to watchers. A delete carries no value. */
export type KvEvent =
  | { type: "put"; key: string; value: StoredValue; revision: number }
  | { type: "delete"; key: string; revision: number };

/** Watchers asked to replay from a revision older than the kept history must take a full snapshot. */
export class CompactedError extends MeshletError {
  readonly compactedRevision: number;
  constructor(fromRevision: number, compactedRevision: number) {
    super("ERR_COMPACTED", `history before revision ${compactedRevision} is compacted (asked from ${fromRevision})`);
    this.name = "CompactedError";
    this.compactedRevision = compactedRevision;
  }
}

export interface Watch {
  cancel(): void;
}

/** How many events the KV keeps at least for watchers that reconnect (up to a quarter more); older ones are compacted away. */
export const DEFAULT_HISTORY = 10_000;

/**
 * The revisioned key/value store that the state machine applies entries to.
 * Only the state machine writes to it (see machine.ts); everything else reads.
 * Revisions are Raft indexes, so they only grow and are the same on every node.
 */
export class RevisionedKv {
  readonly #data = new Map<string, KvRecord>();
  /**
   * The kept events as parallel arrays (a delete has no value): an event
   * object per write lived until its trim, and every write's objects that live
   * that long are copied twice and traced by the garbage collector.
   */
  #historyKeys: string[] = [];
  #historyValues: (StoredValue | undefined)[] = [];
  #historyRevisions: number[] = [];
  readonly #historyLimit: number;
  readonly #watchers = new Set<{ prefix: string; cb: (e: KvEvent) => void }>();
  /** Events at or below this revision are not in the history any more. */
  #compacted = 0;
  #revision = 0;

  constructor(historyLimit = DEFAULT_HISTORY) {
    this.#historyLimit = historyLimit;
  }

  /** The revision of the last applied entry (not only of the last KV write). */
  get revision(): number {
    return this.#revision;
  }

  get size(): number {
    return this.#data.size;
  }

  get(key: string): KvRecord | undefined {
    return this.#data.get(key);
  }

  /** Keys starting with `prefix`, in key order. */
  range(prefix: string): KvListed[] {
    const out: KvListed[] = [];
    for (const [key, record] of this.#data) if (key.startsWith(prefix)) out.push({ key, record });
    return out.sort((a, b) => compareStrings(a.key, b.key));
  }

  /**
   * Calls `cb` for every event on `prefix` after `fromRevision` (replayed
   * synchronously first), then for each new one. Throws CompactedError when
   * that history is gone.
   */
  watch(prefix: string, fromRevision: number, cb: (e: KvEvent) => void): Watch {
    if (fromRevision < this.#compacted) throw new CompactedError(fromRevision, this.#compacted);
    for (let i = 0; i < this.#historyKeys.length; i++) {
      const key = this.#historyKeys[i] ?? "";
      const revision = this.#historyRevisions[i] ?? 0;
      if (revision > fromRevision && key.startsWith(prefix)) cb(event(key, this.#historyValues[i], revision));
    }
    const w = { prefix, cb };
    this.#watchers.add(w);
    return { cancel: () => this.#watchers.delete(w) };
  }

  /** Marks an applied entry that wrote nothing, so `revision` follows the log. */
  advanceTo(revision: number): void {
    if (revision > this.#revision) this.#revision = revision;
  }

  /** State machine only. */
  put(key: string, value: StoredValue, revision: number): void {
    const prev = this.#data.get(key);
    this.#data.set(key, { value, revision, createRevision: prev?.createRevision ?? revision });
    this.#emit(key, value, revision);
  }

  /** State machine only. Returns whether the key existed. */
  delete(key: string, revision: number): boolean {
    if (!this.#data.delete(key)) return false;
    this.#emit(key, undefined, revision);
    return true;
  }

  /** Every record, for a snapshot: a callback, as an iterator would allocate a pair per record. */
  forEachRecord(cb: (key: string, record: KvRecord) => void): void {
    this.#data.forEach((record, key) => {
      cb(key, record);
    });
  }

  /** Replaces the whole content (restoring a snapshot); watchers must resync, so history restarts here. */
  restore(records: Iterable<[string, KvRecord]>, revision: number): void {
    this.#data.clear();
    for (const [k, r] of records) this.#data.set(k, r);
    this.#historyKeys = [];
    this.#historyValues = [];
    this.#historyRevisions = [];
    this.#revision = revision;
    this.#compacted = revision;
  }

  #emit(key: string, value: StoredValue | undefined, revision: number): void {
    this.advanceTo(revision);
    this.#historyKeys.push(key);
    this.#historyValues.push(value);
    this.#historyRevisions.push(revision);
    // Trimmed a quarter of the limit at a time: dropping one event per write moved the whole arrays each time.
    const excess = this.#historyKeys.length - this.#historyLimit;
    if (excess > Math.max(1, this.#historyLimit >> 2)) {
      this.#compacted = this.#historyRevisions[excess - 1] ?? this.#compacted;
      this.#historyKeys = this.#historyKeys.slice(excess);
      this.#historyValues = this.#historyValues.slice(excess);
      this.#historyRevisions = this.#historyRevisions.slice(excess);
    }
    if (this.#watchers.size === 0) return;
    const e = event(key, value, revision);
    for (const w of this.#watchers) if (key.startsWith(w.prefix)) w.cb(e);
  }
}

function event(key: string, value: StoredValue | undefined, revision: number): KvEvent {
  return value === undefined ? { type: "delete", key, revision } : { type: "put", key, value, revision };
}

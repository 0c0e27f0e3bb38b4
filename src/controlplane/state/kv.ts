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
 * The most bytes of keys and values the history holds: a 1 MiB config value
 * rewritten 10,000 times would otherwise keep 10 GB of old values alive.
 * Values still current are shared with the store and cost nothing extra.
 */
export const DEFAULT_HISTORY_BYTES = 64 * 1024 * 1024;

/** Called when a watcher's history no longer follows the log (a snapshot replaced the store). */
export type WatchReset = (revision: number) => void;

interface Watcher {
  prefix: string;
  cb: (e: KvEvent) => void;
  reset: WatchReset | undefined;
}

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
  readonly #historyByteLimit: number;
  #historyBytes = 0;
  readonly #watchers = new Set<Watcher>();
  /** Events at or below this revision are not in the history any more. */
  #compacted = 0;
  #revision = 0;

  constructor(historyLimit = DEFAULT_HISTORY, historyByteLimit = DEFAULT_HISTORY_BYTES) {
    this.#historyLimit = historyLimit;
    this.#historyByteLimit = historyByteLimit;
  }

  /** Events at or below this revision are gone from the history: a watch must start above it. */
  get compactedRevision(): number {
    return this.#compacted;
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
   * that history is gone. `reset` is called when a snapshot replaces the
   * store (a follower that fell too far behind): the events in between are
   * not replayed, so the watcher must start over from the new state.
   */
  watch(prefix: string, fromRevision: number, cb: (e: KvEvent) => void, reset?: WatchReset): Watch {
    if (fromRevision < this.#compacted) throw new CompactedError(fromRevision, this.#compacted);
    for (let i = 0; i < this.#historyKeys.length; i++) {
      const key = this.#historyKeys[i] ?? "";
      const revision = this.#historyRevisions[i] ?? 0;
      if (revision > fromRevision && key.startsWith(prefix)) cb(event(key, this.#historyValues[i], revision));
    }
    const w: Watcher = { prefix, cb, reset };
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
    this.#historyBytes = 0;
    this.#revision = revision;
    this.#compacted = revision;
    for (const w of this.#watchers) w.reset?.(revision);
  }

  #emit(key: string, value: StoredValue | undefined, revision: number): void {
    this.advanceTo(revision);
    this.#historyKeys.push(key);
    this.#historyValues.push(value);
    this.#historyRevisions.push(revision);
    this.#historyBytes += eventBytes(key, value);
    // Trimmed a quarter of the limit at a time: dropping one event per write moved the whole arrays each time.
    let excess = this.#historyKeys.length - this.#historyLimit;
    if (excess <= Math.max(1, this.#historyLimit >> 2)) excess = 0;
    if (this.#historyBytes > this.#historyByteLimit) {
      // Down to three quarters of the byte limit, for the same reason.
      let bytes = this.#historyBytes;
      let n = 0;
      while (n < this.#historyKeys.length - 1 && bytes > (this.#historyByteLimit * 3) / 4) {
        bytes -= eventBytes(this.#historyKeys[n] ?? "", this.#historyValues[n]);
        n++;
      }
      excess = Math.max(excess, n);
    }
    if (excess > 0) this.#trim(excess);
    if (this.#watchers.size === 0) return;
    const e = event(key, value, revision);
    for (const w of this.#watchers) if (key.startsWith(w.prefix)) w.cb(e);
  }

  /** Drops the oldest `n` events; the newest is always kept. */
  #trim(n: number): void {
    for (let i = 0; i < n; i++) this.#historyBytes -= eventBytes(this.#historyKeys[i] ?? "", this.#historyValues[i]);
    this.#compacted = this.#historyRevisions[n - 1] ?? this.#compacted;
    this.#historyKeys = this.#historyKeys.slice(n);
    this.#historyValues = this.#historyValues.slice(n);
    this.#historyRevisions = this.#historyRevisions.slice(n);
  }
}

function eventBytes(key: string, value: StoredValue | undefined): number {
  return key.length + (value?.length ?? 0);
}

function event(key: string, value: StoredValue | undefined, revision: number): KvEvent {
  return value === undefined ? { type: "delete", key, revision } : { type: "put", key, value, revision };
}

import { CompactedError, SnapshotOutOfDateError, UnavailableError } from "./errors.ts";
import { type ConfState, type Entry, EntryType, type HardState, type Snapshot, type Storage } from "./types.ts";

/** What an entry counts for in a size limit besides its data (its term, index and type). */
const ENTRY_OVERHEAD = 16;

export function entrySize(e: Entry): number {
  return e.data.byteLength + ENTRY_OVERHEAD;
}

/** Entries from the front of `ents` while their sizes fit in maxBytes; always at least one. */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = 0;
  let n = 0;
  for (const e of ents) {
    size += entrySize(e);
    if (n > 0 && size > maxBytes) break;
    n++;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

/**
 * Entry data is copied into chunks of this size. A log holds thousands of
 * entries between snapshots; kept as one Uint8Array each (with its own
 * ArrayBuffer and, above 64 bytes, a native backing store) every entry was
 * three heap objects the garbage collector copied twice and traced until
 * compaction. In chunks, an entry is a few numbers in arrays.
 */
const CHUNK_BYTES = 64 * 1024;
/** Larger data gets a chunk of its own, so a chunk's tail is never wasted on one big entry. */
const OWN_CHUNK_BYTES = CHUNK_BYTES / 4;
const NO_DATA = new Uint8Array();

/**
 * Storage held in memory. Position 0 is a dummy entry at the snapshot's index
 * and term, so term(snapshotIndex) answers without the snapshot at hand. The
 * log is kept as parallel arrays (see CHUNK_BYTES); entries() builds Entry
 * objects for the caller, whose data are views into the chunks.
 */
export class MemoryStorage implements Storage {
  #hardState: HardState = { term: 0, vote: "", commit: 0 };
  #snapshot: Snapshot = {
    metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } },
    data: new Uint8Array(),
  };
  /** The index at position 0 (the dummy entry). */
  #offset = 0;
  #terms: number[] = [0];
  #types: EntryType[] = [EntryType.Normal];
  #chunks: Uint8Array[] = [NO_DATA];
  #starts: number[] = [0];
  #ends: number[] = [0];
  /** The chunk new entries' data is copied into, and how much of it is taken. */
  #chunk: Uint8Array = NO_DATA;
  #used = 0;

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.#hardState }, confState: cloneConfState(this.#snapshot.metadata.confState) };
  }

  setHardState(hs: HardState): void {
    this.#hardState = { ...hs };
  }

  /** Replaces the snapshot's conf state; only for bootstrapping an empty storage. */
  setConfState(cs: ConfState): void {
    this.#snapshot = { ...this.#snapshot, metadata: { ...this.#snapshot.metadata, confState: cloneConfState(cs) } };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.#offset) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1);
    const out: Entry[] = [];
    let size = 0;
    for (let i = lo - this.#offset, end = hi - this.#offset; i < end; i++) {
      const start = this.#starts[i] ?? 0;
      const stop = this.#ends[i] ?? 0;
      // The same rule as limitSize: at least one entry, then while the total fits.
      size += stop - start + ENTRY_OVERHEAD;
      if (out.length > 0 && size > maxBytes) break;
      const chunk = this.#chunks[i] ?? NO_DATA;
      out.push({
        term: this.#terms[i] ?? 0,
        index: this.#offset + i,
        type: this.#types[i] ?? EntryType.Normal,
        data: start === stop ? NO_DATA : chunk.subarray(start, stop),
      });
    }
    return out;
  }

  term(index: number): number {
    if (index < this.#offset) throw new CompactedError(index);
    const t = this.#terms[index - this.#offset];
    if (t === undefined) throw new UnavailableError(index);
    return t;
  }

  firstIndex(): number {
    return this.#offset + 1;
  }

  lastIndex(): number {
    return this.#offset + this.#terms.length - 1;
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** The snapshot's index, term and members, without its data. */
  snapshotMetadata(): Snapshot["metadata"] {
    return this.#snapshot.metadata;
  }

  /** Replaces the whole log with the snapshot (a follower installing the leader's snapshot). */
  applySnapshot(snap: Snapshot): void {
    const current = this.#snapshot.metadata.index;
    if (snap.metadata.index <= current) throw new SnapshotOutOfDateError(snap.metadata.index, current);
    this.#snapshot = snap;
    this.#restart(snap.metadata.index, snap.metadata.term, 0);
  }

  /** Records the application's state at `index` (≤ last index) as the snapshot; the log is kept until compact(). */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    const current = this.#snapshot.metadata.index;
    if (index <= current) throw new SnapshotOutOfDateError(index, current);
    if (index > this.lastIndex()) throw new UnavailableError(index);
    this.#snapshot = { metadata: { index, term: this.term(index), confState: cloneConfState(confState) }, data };
    return this.#snapshot;
  }

  /** Drops entries before `index`; `index` stays as the dummy entry. */
  compact(index: number): void {
    if (index <= this.#offset) throw new CompactedError(index);
    if (index > this.lastIndex()) throw new UnavailableError(index);
    this.#restart(index, this.term(index), index - this.#offset + 1);
  }

  /** Makes `index` the dummy entry, keeping the entries from position `keepFrom` on. */
  #restart(index: number, term: number, keepFrom: number): void {
    const keep = keepFrom > 0 && keepFrom <= this.#terms.length;
    this.#terms = [term, ...(keep ? this.#terms.slice(keepFrom) : [])];
    this.#types = [EntryType.Normal, ...(keep ? this.#types.slice(keepFrom) : [])];
    this.#chunks = [NO_DATA, ...(keep ? this.#chunks.slice(keepFrom) : [])];
    this.#starts = [0, ...(keep ? this.#starts.slice(keepFrom) : [])];
    this.#ends = [0, ...(keep ? this.#ends.slice(keepFrom) : [])];
    this.#offset = index;
  }

  /** Appends entries, truncating any existing suffix they conflict with. */
  append(entries: Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const firstIndex = this.firstIndex();
    const last = first.index + entries.length - 1;
    if (last < firstIndex) return;
    const skip = Math.max(0, firstIndex - first.index);
    const at = first.index + skip - this.#offset;
    if (at > this.#terms.length) throw new UnavailableError(first.index + skip - 1);
    if (at < this.#terms.length) {
      this.#terms.length = at;
      this.#types.length = at;
      this.#chunks.length = at;
      this.#starts.length = at;
      this.#ends.length = at;
    }
    for (let i = skip; i < entries.length; i++) {
      const e = entries[i];
      if (e !== undefined) this.#push(e);
    }
  }

  #push(e: Entry): void {
    this.#terms.push(e.term);
    this.#types.push(e.type);
    const n = e.data.byteLength;
    if (n === 0) {
      this.#chunks.push(NO_DATA);
      this.#starts.push(0);
      this.#ends.push(0);
      return;
    }
    if (n > OWN_CHUNK_BYTES) {
      this.#chunks.push(e.data.slice());
      this.#starts.push(0);
      this.#ends.push(n);
      return;
    }
    if (this.#used + n > this.#chunk.byteLength) {
      this.#chunk = new Uint8Array(CHUNK_BYTES);
      this.#used = 0;
    }
    this.#chunk.set(e.data, this.#used);
    this.#chunks.push(this.#chunk);
    this.#starts.push(this.#used);
    this.#used += n;
    this.#ends.push(this.#used);
  }
}

export function cloneConfState(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] };
}

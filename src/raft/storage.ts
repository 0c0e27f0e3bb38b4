import { CompactedError, SnapshotOutOfDateError, UnavailableError } from "./errors.ts";
import type { ConfState, Entry, HardState, Snapshot, Storage } from "./types.ts";

export function entrySize(e: Entry): number {
  return e.data.byteLength + 16;
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
 * Storage held in memory. ents[0] is a dummy entry at the snapshot's index and
 * term, so term(snapshotIndex) answers without the snapshot at hand.
 */
export class MemoryStorage implements Storage {
  #hardState: HardState = { term: 0, vote: "", commit: 0 };
  #snapshot: Snapshot = {
    metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } },
    data: new Uint8Array(),
  };
  #ents: Entry[] = [{ term: 0, index: 0, type: "normal", data: new Uint8Array() }];

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

  #offset(): number {
    return this.#dummy().index;
  }

  #dummy(): Entry {
    const d = this.#ents[0];
    if (d === undefined) throw new Error("memory storage lost its dummy entry");
    return d;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.#offset();
    if (lo <= offset) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1);
    return limitSize(this.#ents.slice(lo - offset, hi - offset), maxBytes);
  }

  term(index: number): number {
    const offset = this.#offset();
    if (index < offset) throw new CompactedError(index);
    const e = this.#ents[index - offset];
    if (e === undefined) throw new UnavailableError(index);
    return e.term;
  }

  firstIndex(): number {
    return this.#offset() + 1;
  }

  lastIndex(): number {
    return this.#offset() + this.#ents.length - 1;
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
    this.#ents = [{ term: snap.metadata.term, index: snap.metadata.index, type: "normal", data: new Uint8Array() }];
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
    const offset = this.#offset();
    if (index <= offset) throw new CompactedError(index);
    if (index > this.lastIndex()) throw new UnavailableError(index);
    const dummy = this.#ents[index - offset];
    if (dummy === undefined) throw new UnavailableError(index);
    this.#ents = [
      { term: dummy.term, index, type: "normal", data: new Uint8Array() },
      ...this.#ents.slice(index - offset + 1),
    ];
  }

  /** Appends entries, truncating any existing suffix they conflict with. */
  append(entries: Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const firstIndex = this.firstIndex();
    const last = first.index + entries.length - 1;
    if (last < firstIndex) return;
    const ents = firstIndex > first.index ? entries.slice(firstIndex - first.index) : entries;
    const head = ents[0];
    if (head === undefined) return;
    const offset = head.index - this.#offset();
    if (offset > this.#ents.length) throw new UnavailableError(head.index - 1);
    if (offset < this.#ents.length) this.#ents.length = offset;
    for (const e of ents) this.#ents.push(e);
  }
}

export function cloneConfState(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] };
}

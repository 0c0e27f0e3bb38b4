import { CompactedError } from "./errors.ts";
import { Unstable } from "./log-unstable.ts";
import { limitSize } from "./storage.ts";
import type { Entry, Snapshot, Storage } from "./types.ts";

/** The log as Raft sees it: persisted entries in Storage followed by unstable ones. */
export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  committed: number;
  applied: number;
  readonly maxCommittedSize: number;

  constructor(storage: Storage, maxCommittedSize: number) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    this.maxCommittedSize = maxCommittedSize;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** The term at i; undefined when i is compacted or beyond the log. */
  term(i: number): number | undefined {
    const dummy = this.firstIndex() - 1;
    if (i < dummy || i > this.lastIndex()) return undefined;
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    try {
      return this.storage.term(i);
    } catch {
      return undefined;
    }
  }

  matchTerm(i: number, term: number): boolean {
    return this.term(i) === term;
  }

  /** §5.4.1: a log is more up-to-date if its last term is later, or equal with a longer log. */
  isUpToDate(lastIndex: number, term: number): boolean {
    const lt = this.lastTerm();
    return term > lt || (term === lt && lastIndex >= this.lastIndex());
  }

  /** Index of the first entry that conflicts with (or extends) the log; 0 if all are present. */
  findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index ≤ index whose term ≤ term: the leader's and follower's
   * logs cannot match above it, so probing jumps straight there.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (; i >= 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  /**
   * Appends what the leader sent after (index, logTerm) if our log holds that
   * entry. Returns the new last index, or undefined when the consistency check
   * fails or the message would rewrite committed entries (hostile input).
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) return undefined;
      const first = ents[0];
      if (first === undefined) return undefined;
      this.append(ents.slice(ci - first.index));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: Entry[]): number {
    const first = ents[0];
    if (first === undefined) return this.lastIndex();
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  commitTo(c: number): void {
    if (c > this.committed && c <= this.lastIndex()) this.committed = c;
  }

  appliedTo(i: number): void {
    if (i > this.applied && i <= this.committed) this.applied = i;
  }

  /** Entries in [lo, hi) up to maxBytes; throws CompactedError when lo is compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) throw new CompactedError(lo);
    const uOff = this.unstable.offset;
    let ents: Entry[] = [];
    if (lo < uOff) ents = this.storage.entries(lo, Math.min(hi, uOff), maxBytes);
    if (hi > uOff && (lo >= uOff || ents.length === Math.min(hi, uOff) - lo)) {
      const u = this.unstable.slice(Math.max(lo, uOff), hi);
      ents = ents.length === 0 ? u : ents.concat(u);
    }
    return limitSize(ents, maxBytes);
  }

  entriesFrom(i: number, maxBytes: number): Entry[] {
    return this.slice(i, this.lastIndex() + 1, maxBytes);
  }

  hasNextCommittedEnts(): boolean {
    return this.unstable.snapshot === undefined && this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  nextCommittedEnts(): Entry[] {
    if (!this.hasNextCommittedEnts()) return [];
    const lo = Math.max(this.applied + 1, this.firstIndex());
    return this.slice(lo, this.committed + 1, this.maxCommittedSize);
  }

  /** §7: the snapshot replaces the whole log. */
  restore(snap: Snapshot): void {
    this.committed = snap.metadata.index;
    this.unstable.restore(snap);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }
}

import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryStorage } from "../../src/raft/storage.ts";
import { type Entry, EntryType } from "../../src/raft/types.ts";
import { Rng } from "../sim/rng.ts";

/** The log as a plain list of entries: what MemoryStorage must behave like, however it packs them. */
class LogModel {
  offset = 0;
  terms: number[] = [0];
  ents: Entry[] = [];

  last(): number {
    return this.offset + this.ents.length;
  }

  append(es: Entry[]): void {
    for (const e of es) {
      if (e.index <= this.offset) continue;
      this.ents.length = e.index - this.offset - 1;
      this.ents.push({ ...e, data: e.data.slice() });
    }
  }

  compact(index: number): void {
    const term = index === this.offset ? (this.terms[0] ?? 0) : (this.ents[index - this.offset - 1]?.term ?? -1);
    this.ents = this.ents.slice(index - this.offset);
    this.terms = [term];
    this.offset = index;
  }

  term(index: number): number {
    return index === this.offset ? (this.terms[0] ?? 0) : (this.ents[index - this.offset - 1]?.term ?? -1);
  }
}

function randomEntries(rng: Rng, from: number, count: number, term: number): Entry[] {
  return Array.from({ length: count }, (_, i) => {
    // Sizes around the chunk boundaries: empty, small, and larger than a shared chunk takes.
    const size = rng.pick([0, 1, 64, 200, 5_000, 17_000, 70_000]) ?? 0;
    const data = new Uint8Array(size);
    for (let b = 0; b < size; b += 97) data[b] = rng.intn(256);
    return { term, index: from + i, type: rng.chance(0.1) ? EntryType.ConfChange : EntryType.Normal, data };
  });
}

test("MemoryStorage keeps entries as given: random appends, conflicting suffixes, compactions and size limits", () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rng = new Rng(seed);
    const s = new MemoryStorage();
    const m = new LogModel();
    let term = 1;
    for (let step = 0; step < 150; step++) {
      const op = rng.intn(10);
      if (op < 6) {
        // An append that may start inside the log (overwriting a suffix) or at its end.
        const from = Math.max(m.offset + 1, m.last() + 1 - (rng.chance(0.3) ? rng.intn(5) : 0));
        if (from <= m.last()) term++;
        const es = randomEntries(rng, from, 1 + rng.intn(8), term);
        s.append(es);
        m.append(es);
        // The caller's buffers are its own again: changing them must not change the log.
        for (const e of es) e.data.fill(0xee);
      } else if (op < 8 && m.last() > m.offset) {
        const index = m.offset + 1 + rng.intn(m.last() - m.offset);
        s.compact(index);
        m.compact(index);
      } else if (m.last() > m.offset) {
        const lo = m.offset + 1 + rng.intn(m.last() - m.offset);
        const hi = lo + 1 + rng.intn(m.last() - lo + 1);
        const maxBytes = rng.pick([0, 100, 10_000, Number.POSITIVE_INFINITY]) ?? 0;
        const got = s.entries(lo, hi, maxBytes);
        // At least one entry, then while the total (data + 16 bytes each) fits in maxBytes.
        const want: Entry[] = [];
        let size = 0;
        for (const e of m.ents.slice(lo - m.offset - 1, hi - m.offset - 1)) {
          size += e.data.byteLength + 16;
          if (want.length > 0 && size > maxBytes) break;
          want.push(e);
        }
        assert.deepEqual(got, want, `seed ${seed} step ${step}: entries(${lo}, ${hi}, ${maxBytes})`);
      }
      assert.equal(s.firstIndex(), m.offset + 1, `seed ${seed} step ${step}: first index`);
      assert.equal(s.lastIndex(), m.last(), `seed ${seed} step ${step}: last index`);
      for (let i = m.offset; i <= m.last(); i++) assert.equal(s.term(i), m.term(i), `seed ${seed}: term(${i})`);
    }
  }
});

test("MemoryStorage answers compacted and missing ranges with typed errors after packing", () => {
  const s = new MemoryStorage();
  s.append(randomEntries(new Rng(7), 1, 10, 1));
  s.compact(4);
  assert.throws(() => s.entries(4, 6, 100), { code: "ERR_COMPACTED" });
  assert.throws(() => s.term(3), { code: "ERR_COMPACTED" });
  assert.throws(() => s.entries(5, 12, 100), { code: "ERR_UNAVAILABLE" });
  assert.throws(() => s.append(randomEntries(new Rng(8), 12, 1, 1)), { code: "ERR_UNAVAILABLE" });
  assert.equal(s.term(4), 1);
  assert.deepEqual(
    s.entries(10, 11, 0).map((e) => e.index),
    [10],
  );
});

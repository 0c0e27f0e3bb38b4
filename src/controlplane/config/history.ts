/**
 * Each config key's release history, kept in the replicated KV so every node
 * answers `meshlet config history` alike and `rollback --to REV` survives
 * restarts (the KV's watch history is in memory and shared by all keys).
 *
 *   config-history/<key>              JSON HistoryEntry[], oldest first, at most HISTORY_ENTRIES
 *   config-history-values/<key>@<rev> the value the key had from <rev>, once superseded (at most
 *                                     HISTORY_VALUES per key; the current value is config/<key> itself)
 *
 * `@` cannot occur in a key, so one key's value records never collide with another's.
 */

import { type StoredValue, storedFromText, storedText } from "../state/value.ts";

export const HISTORY_PREFIX = "config-history/";
export const HISTORY_VALUES_PREFIX = "config-history-values/";
/** Entries listed per key. */
export const HISTORY_ENTRIES = 50;
/** Superseded values kept per key for `rollback --to`. */
export const HISTORY_VALUES = 10;

export type HistoryAction = "put" | "delete" | "release" | "promote" | "rollback";

export interface HistoryEntry {
  /** The Raft index of the change. */
  revision: number;
  action: HistoryAction;
  /** Milliseconds since the epoch on the node that proposed it; null when not recorded. */
  at: number | null;
  /** Who made the change: the API token's name once access control lands; null until then. */
  by: string | null;
  /** The release created, promoted or rolled back. */
  release?: string;
  /** The release's selector, described (`10%`, `version=v2`). */
  selector?: string;
  /** `rollback --to`: the revision whose value was restored. */
  to?: number;
  /** Size of the value set. */
  bytes?: number;
}

/** Who and when, as commands carry them from the node that proposed them. */
export interface Provenance {
  at?: number | undefined;
  by?: string | undefined;
}

export function historyKey(key: string): string {
  return HISTORY_PREFIX + key;
}

export function historyValueKey(key: string, revision: number): string {
  return `${HISTORY_VALUES_PREFIX}${key}@${revision}`;
}

/** Whether the entry set the key's value (so that value can be restored with `rollback --to`). */
export function setsValue(e: HistoryEntry): boolean {
  return e.action === "put" || e.action === "promote" || (e.action === "rollback" && e.to !== undefined);
}

export function parseHistory(json: string | undefined): HistoryEntry[] {
  return json === undefined ? [] : (JSON.parse(json) as HistoryEntry[]);
}

/** How many keys' parsed histories are kept (the keys written last). */
export const CACHED_HISTORIES = 4096;

/**
 * Every config write appends to its key's history: parsing the stored list of up to HISTORY_ENTRIES entries
 * and serializing it again per write was a quarter of a follower's CPU at 64 writing clients (bench:control's
 * profile). So the lists of the keys written last stay parsed, each checked against the stored value it came
 * from (a value that differs is parsed again: nothing here can answer for another one), and each entry keeps
 * its JSON text for the next write. Entries are shared between lists and never changed once made.
 */
const parsed = new Map<string, { stored: StoredValue; entries: readonly HistoryEntry[] }>();
const entryText = new WeakMap<HistoryEntry, string>();

/** The history of `key` as stored in `stored` (its history record's value), oldest first. */
export function historyOf(key: string, stored: StoredValue | undefined): readonly HistoryEntry[] {
  if (stored === undefined) return [];
  const hit = parsed.get(key);
  if (hit !== undefined && hit.stored === stored) return hit.entries;
  const entries = parseHistory(storedText(stored));
  remember(key, stored, entries);
  return entries;
}

/** The stored value of `entries` as `key`'s history record; the same bytes as JSON.stringify(entries). */
export function storedHistory(key: string, entries: readonly HistoryEntry[]): StoredValue {
  const texts: string[] = [];
  for (const e of entries) {
    let text = entryText.get(e);
    if (text === undefined) {
      text = JSON.stringify(e);
      entryText.set(e, text);
    }
    texts.push(text);
  }
  const stored = storedFromText(`[${texts.join(",")}]`);
  remember(key, stored, entries);
  return stored;
}

/** How many keys' parsed histories are held now (at most CACHED_HISTORIES). */
export function cachedHistories(): number {
  return parsed.size;
}

function remember(key: string, stored: StoredValue, entries: readonly HistoryEntry[]): void {
  // Map order is insertion order: deleting first makes the key the newest, and the oldest goes when full.
  parsed.delete(key);
  parsed.set(key, { stored, entries });
  if (parsed.size > CACHED_HISTORIES) parsed.delete(parsed.keys().next().value as string);
}

export function entry(
  revision: number,
  action: HistoryAction,
  who: Provenance,
  extra: Omit<HistoryEntry, "revision" | "action" | "at" | "by"> = {},
): HistoryEntry {
  return { revision, action, at: who.at ?? null, by: who.by ?? null, ...extra };
}

/** The revisions whose superseded values are kept: the newest HISTORY_VALUES value-setting entries but the current one. */
export function keptValueRevisions(entries: readonly HistoryEntry[], current: number | undefined): Set<number> {
  const out = new Set<number>();
  for (let i = entries.length - 1; i >= 0 && out.size < HISTORY_VALUES; i--) {
    const e = entries[i];
    if (e !== undefined && setsValue(e) && e.revision !== current) out.add(e.revision);
  }
  return out;
}

export interface HistoryUpdate {
  entries: HistoryEntry[];
  /** Whether to keep the value being superseded (the base's, at `before`). */
  keepSuperseded: boolean;
  /** Value records to delete: superseded too long ago, or of entries that fell off the list. */
  dropValues: number[];
}

/**
 * Appends `e`. `before` / `after` are the key's base revision before and
 * after the change (undefined = no base value). Pure: the callers (config
 * commands on a Txn, release rules on a KvView) write the result.
 */
export function appendHistory(
  entries: readonly HistoryEntry[],
  e: HistoryEntry,
  before: number | undefined,
  after: number | undefined,
): HistoryUpdate {
  const next = [...entries, e];
  next.splice(0, Math.max(0, next.length - HISTORY_ENTRIES));
  const stored = keptValueRevisions(entries, before);
  const kept = keptValueRevisions(next, after);
  return {
    entries: next,
    keepSuperseded: before !== undefined && before !== after && kept.has(before),
    dropValues: [...stored].filter((r) => !kept.has(r)),
  };
}

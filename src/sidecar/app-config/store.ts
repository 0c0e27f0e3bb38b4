import { type Clock, systemClock } from "../../common/clock.ts";
import { declares } from "../../config/config-key.ts";

/** One key as the app sees it. */
export interface AppConfigEntry {
  readonly value: Buffer;
  /** Only ever grows for a key (see apply()). */
  readonly revision: number;
  /** The ConfigRelease the value comes from, or "base". */
  readonly release: string;
}

/** A key that changed: its new entry, or undefined when it is gone (deleted, or no longer declared). */
export interface AppConfigChange {
  key: string;
  entry: AppConfigEntry | undefined;
  /** The revision of the change (for a removal, the update's: the key has none left). */
  revision: number;
}

/** A ConfigUpdate as the discovery stream decodes it. */
export interface ConfigUpdateLike {
  revision: number;
  full: boolean;
  entries: readonly { key: string; value: Buffer; revision: number; release: string }[];
  removed: readonly string[];
  keys: readonly string[];
  prefixes: readonly string[];
  /** A history that does not reach what the store holds (the control plane's data was replaced): start over. */
  reset?: boolean;
}

/** What --data-dir keeps, to serve last-known-good values when the control plane cannot be reached. */
export interface StoredConfig {
  revision: number;
  /** When these values were last known to be current (ms since the epoch). */
  confirmedAt: number;
  keys: string[];
  prefixes: string[];
  entries: { key: string; value: Buffer; revision: number; release: string }[];
}

type Listener = (change: AppConfigChange) => void;

/**
 * The app config a sidecar holds for its app, as the admin port serves it.
 * A key's revision only grows: an update that gives a key an older source
 * revision than the one held (an instance that leaves a release goes back
 * to a base value written before the release) takes the update's own
 * revision instead, which is newer than anything held, because a node sends
 * a sidecar no state older than the one it had (discovery: config_revision).
 * A rewrite of the same value from the same source is no change.
 */
export class AppConfigStore {
  readonly #clock: Clock;
  readonly #entries = new Map<string, AppConfigEntry>();
  /** The revision at which a key went away, so that if it comes back its revision still grows. */
  readonly #removedAt = new Map<string, number>();
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #any = new Set<() => void>();
  #keys: readonly string[] = [];
  #prefixes: readonly string[] = [];
  #revision = 0;
  #loaded = false;
  #connected = false;
  #confirmedAt: number | undefined;

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /** The revision of the last update applied (what the sidecar says it holds when it reconnects). */
  get revision(): number {
    return this.#revision;
  }

  /** Whether any config arrived (from the control plane or the cache). */
  get loaded(): boolean {
    return this.#loaded;
  }

  get declaration(): { keys: readonly string[]; prefixes: readonly string[] } {
    return { keys: this.#keys, prefixes: this.#prefixes };
  }

  declared(key: string): boolean {
    return declares({ keys: this.#keys, prefixes: this.#prefixes }, key);
  }

  get(key: string): AppConfigEntry | undefined {
    return this.#entries.get(key);
  }

  entries(): [string, AppConfigEntry][] {
    return [...this.#entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Seconds since the values were last known current; undefined while the control plane's stream is up. */
  staleSeconds(): number | undefined {
    if (this.#connected || !this.#loaded || this.#confirmedAt === undefined) return undefined;
    return Math.max(0, Math.floor((this.#clock.now() - this.#confirmedAt) / 1000));
  }

  /** The control plane's stream came up or went down: from then on the values are as old as that moment. */
  setConnected(up: boolean): void {
    if (this.#connected && !up) this.#confirmedAt = this.#clock.now();
    this.#connected = up;
  }

  /** Calls `listener` for each change of `key`. */
  subscribe(key: string, listener: Listener): () => void {
    let set = this.#listeners.get(key);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(key, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(key);
    };
  }

  /** Calls `listener` after each update that changed anything (the cache, the files). */
  onUpdate(listener: () => void): () => void {
    this.#any.add(listener);
    return () => this.#any.delete(listener);
  }

  apply(u: ConfigUpdateLike): AppConfigChange[] {
    // Another history (a full update): revisions of the old one mean nothing in it, every key is taken as sent.
    const reset = u.reset === true;
    if (reset) this.#removedAt.clear();
    // A stream never sends an older state than the one held (see the class comment); refuse one rather than go back.
    else if (u.revision < this.#revision) return [];
    const changes: AppConfigChange[] = [];
    const seen = new Set<string>();
    for (const e of u.entries) {
      seen.add(e.key);
      const held = this.#entries.get(e.key);
      if (!reset && held !== undefined && held.release === e.release && held.value.equals(e.value)) continue;
      const floor = reset ? 0 : (held?.revision ?? this.#removedAt.get(e.key) ?? 0);
      const entry = { value: e.value, revision: e.revision > floor ? e.revision : u.revision, release: e.release };
      this.#entries.set(e.key, entry);
      this.#removedAt.delete(e.key);
      changes.push({ key: e.key, entry, revision: entry.revision });
    }
    const gone = u.full ? [...this.#entries.keys()].filter((k) => !seen.has(k)) : u.removed;
    for (const key of gone) {
      if (!this.#entries.delete(key)) continue;
      this.#removedAt.set(key, u.revision);
      changes.push({ key, entry: undefined, revision: u.revision });
    }
    this.#keys = [...u.keys];
    this.#prefixes = [...u.prefixes];
    this.#revision = u.revision;
    this.#loaded = true;
    this.#confirmedAt = this.#clock.now();
    this.#notify(changes);
    return changes;
  }

  /** The values kept by --data-dir: served, marked stale, until the control plane is back. */
  restore(stored: StoredConfig): void {
    if (this.#loaded) return;
    for (const e of stored.entries)
      this.#entries.set(e.key, { value: e.value, revision: e.revision, release: e.release });
    this.#keys = stored.keys;
    this.#prefixes = stored.prefixes;
    this.#revision = stored.revision;
    this.#confirmedAt = stored.confirmedAt;
    this.#loaded = true;
  }

  toStored(): StoredConfig {
    return {
      revision: this.#revision,
      confirmedAt: this.#connected ? this.#clock.now() : (this.#confirmedAt ?? this.#clock.now()),
      keys: [...this.#keys],
      prefixes: [...this.#prefixes],
      entries: this.entries().map(([key, e]) => ({ key, value: e.value, revision: e.revision, release: e.release })),
    };
  }

  #notify(changes: readonly AppConfigChange[]): void {
    for (const c of changes) {
      const set = this.#listeners.get(c.key);
      if (set !== undefined) for (const l of [...set]) l(c);
    }
    if (changes.length > 0) for (const l of this.#any) l();
  }
}

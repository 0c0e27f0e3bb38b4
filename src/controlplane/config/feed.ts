import type { ConfigRelease, ReleaseSelector, Service, ServiceConfig } from "../../config/resources.ts";
import { RESOURCES_PREFIX } from "../resources/keys.ts";
import type { KvEvent, RevisionedKv, Watch } from "../state/kv.ts";
import { type StoredValue, storedFromText, storedText } from "../state/value.ts";
import { CONFIG_PREFIX } from "./commands.ts";
import { type InstanceIdentity, selects } from "./selection.ts";

/** One key as one instance must see it. Shared by every instance that sees the same; never mutated. */
export interface EffectiveEntry {
  readonly key: string;
  readonly value: StoredValue;
  /** The revision of the write the value comes from: the key's, or its release's. */
  readonly revision: number;
  /** The release's name, or "base". */
  readonly release: string;
}

export const BASE = "base";

/** Who asks: a sidecar's Service and instance. */
export interface ConfigIdentity extends InstanceIdentity {
  service: string;
}

export interface ConfigView {
  /** The node's applied revision when the view was taken. */
  revision: number;
  keys: readonly string[];
  prefixes: readonly string[];
  /** Never mutated once handed out: a holder may keep it to compare with the next view. */
  entries: ReadonlyMap<string, EffectiveEntry>;
}

export interface ActiveRelease {
  name: string;
  selector: ReleaseSelector;
  entry: EffectiveEntry;
}

const RELEASES = `${RESOURCES_PREFIX}ConfigRelease/`;
const SERVICES = `${RESOURCES_PREFIX}Service/`;
const NO_ENTRIES: ReadonlyMap<string, EffectiveEntry> = new Map();

/**
 * The config every sidecar must hold, kept from a node's applied state:
 * base values, active releases and what each Service declares, updated from
 * KV watches as entries apply (no scans of the KV), and each Service's base
 * view built once per change however many of its instances ask. Listeners
 * hear of changes once per applied batch.
 */
export class ConfigFeed {
  readonly #kv: RevisionedKv;
  readonly #bases = new Map<string, EffectiveEntry>();
  readonly #releases = new Map<string, ActiveRelease>();
  /** Release name → its key, to find it again when a release is rewritten for another key or deleted. */
  readonly #releaseKeys = new Map<string, string>();
  readonly #declarations = new Map<string, ServiceConfig>();
  #baseViews = new Map<string, ReadonlyMap<string, EffectiveEntry>>();
  readonly #listeners = new Set<() => void>();
  #waiting: { revision: number; cb: () => void }[] = [];
  #dirty = false;
  readonly #watches: Watch[];
  readonly #offApplied: () => void;
  readonly #confirm: (() => Promise<number>) | undefined;
  #closed = false;

  /**
   * `onApplied`: the node's applied event. `confirm`: the node's applied
   * revision after a linearizable read (everything committed is applied);
   * without it, a node never concludes that a sidecar comes from another history.
   */
  constructor(kv: RevisionedKv, onApplied: (listener: () => void) => () => void, confirm?: () => Promise<number>) {
    this.#kv = kv;
    this.#confirm = confirm;
    const reset = () => this.#load();
    this.#watches = [
      kv.watch(CONFIG_PREFIX, kv.revision, (e) => this.#onBase(e), reset),
      kv.watch(RELEASES, kv.revision, (e) => this.#onRelease(e), reset),
      kv.watch(SERVICES, kv.revision, (e) => this.#onService(e), reset),
    ];
    this.#load();
    this.#offApplied = onApplied(() => this.#applied());
  }

  get revision(): number {
    return this.#kv.revision;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls `cb` once the node has applied `revision` (at once if it has). */
  whenApplied(revision: number, cb: () => void): void {
    if (this.#kv.revision >= revision) cb();
    else this.#waiting.push({ revision, cb });
  }

  /**
   * Resolves true when this node, having applied everything the cluster
   * committed, is still below `revision`: a sidecar that holds it got it from
   * another history (the control plane's data was replaced). False once the
   * node reaches it. Without a leader it asks again every second.
   */
  async fromAnotherHistory(revision: number): Promise<boolean> {
    const confirm = this.#confirm;
    if (confirm === undefined) return false;
    while (!this.#closed && this.#kv.revision < revision) {
      try {
        return (await confirm()) < revision;
      } catch {
        await new Promise((r) => setTimeout(r, 1_000).unref());
      }
    }
    return false;
  }

  release(key: string): ActiveRelease | undefined {
    return this.#releases.get(key);
  }

  base(key: string): EffectiveEntry | undefined {
    return this.#bases.get(key);
  }

  declaration(service: string): ServiceConfig | undefined {
    return this.#declarations.get(service);
  }

  view(who: ConfigIdentity): ConfigView {
    const decl = this.#declarations.get(who.service);
    if (decl === undefined) return { revision: this.revision, keys: [], prefixes: [], entries: NO_ENTRIES };
    const base = this.#baseView(who.service, decl);
    let entries = base;
    for (const [key, release] of this.#releases) {
      if (!base.has(key) || !selects(release.selector, key, who)) continue;
      if (entries === base) entries = new Map(base);
      (entries as Map<string, EffectiveEntry>).set(key, release.entry);
    }
    return { revision: this.revision, keys: decl.keys, prefixes: decl.prefixes, entries };
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#watches) w.cancel();
    this.#offApplied();
    this.#listeners.clear();
    this.#waiting = [];
  }

  #baseView(service: string, decl: ServiceConfig): ReadonlyMap<string, EffectiveEntry> {
    let view = this.#baseViews.get(service);
    if (view !== undefined) return view;
    const out = new Map<string, EffectiveEntry>();
    for (const key of decl.keys) {
      const e = this.#bases.get(key);
      if (e !== undefined) out.set(key, e);
    }
    if (decl.prefixes.length > 0) {
      for (const [key, e] of this.#bases) if (decl.prefixes.some((p) => key.startsWith(p))) out.set(key, e);
    }
    view = out;
    this.#baseViews.set(service, view);
    return view;
  }

  /** Everything from the store (at start, and after a snapshot replaced it). */
  #load(): void {
    this.#bases.clear();
    this.#releases.clear();
    this.#releaseKeys.clear();
    this.#declarations.clear();
    for (const { key, record } of this.#kv.range(CONFIG_PREFIX)) {
      this.#onBase({ type: "put", key, value: record.value, revision: record.revision });
    }
    for (const { key, record } of this.#kv.range(RELEASES)) {
      this.#onRelease({ type: "put", key, value: record.value, revision: record.revision });
    }
    for (const { key, record } of this.#kv.range(SERVICES)) {
      this.#onService({ type: "put", key, value: record.value, revision: record.revision });
    }
    this.#changed();
  }

  #onBase(e: KvEvent): void {
    const key = e.key.slice(CONFIG_PREFIX.length);
    if (e.type === "delete") this.#bases.delete(key);
    else this.#bases.set(key, { key, value: e.value, revision: e.revision, release: BASE });
    this.#changed();
  }

  #onRelease(e: KvEvent): void {
    const name = e.key.slice(RELEASES.length);
    const previous = this.#releaseKeys.get(name);
    if (previous !== undefined && this.#releases.get(previous)?.name === name) this.#releases.delete(previous);
    this.#releaseKeys.delete(name);
    if (e.type === "put") {
      const r = JSON.parse(storedText(e.value)) as ConfigRelease;
      const { key, value, selector } = r.spec;
      this.#releases.set(key, {
        name,
        selector,
        entry: { key, value: storedFromText(value), revision: e.revision, release: name },
      });
      this.#releaseKeys.set(name, key);
    }
    this.#changed();
  }

  #onService(e: KvEvent): void {
    const name = e.key.slice(SERVICES.length);
    const config = e.type === "put" ? (JSON.parse(storedText(e.value)) as Service).spec.config : undefined;
    const before = this.#declarations.get(name);
    if (config === undefined) this.#declarations.delete(name);
    else this.#declarations.set(name, config);
    // Most Service writes are about ports and balancers: they change no one's config.
    if (JSON.stringify(before) !== JSON.stringify(config)) this.#changed();
  }

  #changed(): void {
    this.#baseViews = new Map();
    this.#dirty = true;
  }

  #applied(): void {
    if (this.#waiting.length > 0) {
      const now = this.#kv.revision;
      const ready = this.#waiting.filter((w) => w.revision <= now);
      this.#waiting = this.#waiting.filter((w) => w.revision > now);
      for (const w of ready) w.cb();
    }
    if (!this.#dirty) return;
    this.#dirty = false;
    for (const l of this.#listeners) l();
  }
}

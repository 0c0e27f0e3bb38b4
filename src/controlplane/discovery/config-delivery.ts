import type { ConfigEntry } from "../../gen/meshlet/discovery/v1/ConfigEntry.ts";
import type { ConfigUpdate } from "../../gen/meshlet/discovery/v1/ConfigUpdate.ts";
import type { ConfigFeed, ConfigIdentity, EffectiveEntry } from "../config/feed.ts";
import { storedBytes } from "../state/value.ts";

/** An entry's bytes, encoded once for all the streams it goes to (a 1 MiB value to 1,000 sidecars). */
const wire = new WeakMap<EffectiveEntry, Buffer>();

function toWire(e: EffectiveEntry): ConfigEntry {
  let value = wire.get(e);
  if (value === undefined) {
    value = storedBytes(e.value);
    wire.set(e, value);
  }
  return { key: e.key, value, revision: e.revision, release: e.release };
}

/** What a sidecar was last sent of its config and what it acknowledged (meshlet config status). */
export interface DeliveryState {
  sentRevision: number;
  ackedRevision: number;
  entry(key: string): EffectiveEntry | undefined;
}

/**
 * One stream's app config: the first update is full, the next ones carry
 * only what changed for this instance (a value, or the release it comes
 * from). A node that has applied less than the sidecar already holds (the
 * sidecar left a node further ahead) sends nothing until it catches up, so
 * a sidecar's config only moves forward; unless the cluster never reached
 * that revision (its data was replaced): then the first update resets.
 */
export class ConfigDelivery implements DeliveryState {
  readonly #feed: ConfigFeed;
  readonly #who: ConfigIdentity;
  readonly #minRevision: number;
  readonly #wake: () => void;
  #sent: ReadonlyMap<string, EffectiveEntry> | undefined;
  #declaration = "";
  #waiting = false;
  /** The sidecar's config revision is not in this cluster's history: its next update resets it. */
  #otherHistory = false;
  sentRevision = 0;
  ackedRevision = 0;

  /** `minRevision`: the config revision the sidecar says it holds; `wake`: push again (the node caught up). */
  constructor(feed: ConfigFeed, who: ConfigIdentity, minRevision: number, wake: () => void) {
    this.#feed = feed;
    this.#who = who;
    this.#minRevision = minRevision;
    this.#wake = wake;
  }

  /** The update to send now, or undefined: nothing changed, or this node is behind the sidecar. */
  next(): ConfigUpdate | undefined {
    if (this.#feed.revision < this.#minRevision && !this.#otherHistory) {
      if (!this.#waiting) {
        this.#waiting = true;
        this.#feed.whenApplied(this.#minRevision, () => this.#wake());
        void this.#feed.fromAnotherHistory(this.#minRevision).then((other) => {
          if (!other) return;
          this.#otherHistory = true;
          this.#wake();
        });
      }
      return undefined;
    }
    const view = this.#feed.view(this.#who);
    const declaration = `${view.keys.join("\n")}\0${view.prefixes.join("\n")}`;
    const sent = this.#sent;
    const entries: ConfigEntry[] = [];
    const removed: string[] = [];
    // What the sidecar will hold: an entry it keeps keeps the revision it was sent with.
    const next = new Map<string, EffectiveEntry>();
    for (const [key, e] of view.entries) {
      const before = sent?.get(key);
      // A rewrite of the same value from the same source is no change for the app.
      if (before !== undefined && before.value === e.value && before.release === e.release) next.set(key, before);
      else {
        next.set(key, e);
        entries.push(toWire(e));
      }
    }
    if (sent !== undefined) for (const key of sent.keys()) if (!view.entries.has(key)) removed.push(key);
    if (sent !== undefined && entries.length === 0 && removed.length === 0 && declaration === this.#declaration)
      return undefined;
    this.#sent = next;
    this.#declaration = declaration;
    this.sentRevision = view.revision;
    return {
      revision: view.revision,
      full: sent === undefined,
      entries,
      removed,
      keys: [...view.keys],
      prefixes: [...view.prefixes],
      reset: sent === undefined && this.#otherHistory,
    };
  }

  ack(revision: number): void {
    if (revision <= this.sentRevision) this.ackedRevision = Math.max(this.ackedRevision, revision);
  }

  entry(key: string): EffectiveEntry | undefined {
    return this.#sent?.get(key);
  }
}

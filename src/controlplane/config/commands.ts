import { MeshletError } from "../../common/errors.ts";
import type { ConfigRelease } from "../../config/resources.ts";
import { resourceKey } from "../resources/keys.ts";
import type { Command, StateMachine, Txn } from "../state/machine.ts";
import { type StoredValue, storedFromBytes, storedFromText, storedText } from "../state/value.ts";
import { HistoryCompactedError, noRelease, releaseActive } from "./errors.ts";
import {
  appendHistory,
  entry,
  HISTORY_ENTRIES,
  HISTORY_VALUES,
  type HistoryEntry,
  historyKey,
  historyOf,
  historyValueKey,
  type Provenance,
  setsValue,
  storedHistory,
} from "./history.ts";
import { releaseIndexKey } from "./release-index.ts";

export { invalidKeyReason } from "../../config/config-key.ts";

/** App-config keys live under this prefix in the KV. */
export const CONFIG_PREFIX = "config/";

/** A compare-and-set failed; `current` is the key's revision (0 = absent). */
export class ConfigRevisionError extends MeshletError {
  readonly current: number;
  constructor(key: string, expected: number, current: number) {
    super("ERR_REVISION_MISMATCH", `config/${key} is at revision ${current}, not ${expected}`);
    this.name = "ConfigRevisionError";
    this.current = current;
  }
}

export class ConfigNotFoundError extends MeshletError {
  constructor(key: string) {
    super("ERR_NOT_FOUND", `config key "${key}" not found`);
    this.name = "ConfigNotFoundError";
  }
}

/** `value` is base64 so any bytes survive the JSON entry; `ifRevision` 0 = only if absent. */
export interface ConfigPut extends Command, Provenance {
  type: "config.put";
  key: string;
  value: string;
  ifRevision?: number;
}

export interface ConfigDelete extends Command, Provenance {
  type: "config.delete";
  key: string;
  ifRevision?: number;
}

/** The key's release becomes its base value, for every instance; the release is gone. */
export interface ConfigPromote extends Command, Provenance {
  type: "config.promote";
  key: string;
}

/** Without `to`: the key's release is withdrawn (every instance back to the base value). With `to`: the base value becomes the one set at revision `to`. */
export interface ConfigRollback extends Command, Provenance {
  type: "config.rollback";
  key: string;
  to?: number;
}

/** What promote and rollback report. */
export interface ReleaseOutcome {
  release: string | null;
  /** rollback --to: the revision whose value was restored. */
  to?: number;
}

/** The release of `key`, if one is active: its name, resource and the resource's revision. */
export function activeRelease(
  kv: Pick<Txn, "get">,
  key: string,
): { name: string; release: ConfigRelease; revision: number } | undefined {
  const name = kv.get(releaseIndexKey(key));
  if (name === undefined) return undefined;
  const stored = kv.get(resourceKey("ConfigRelease", storedText(name.value)));
  if (stored === undefined) return undefined;
  return {
    name: storedText(name.value),
    release: JSON.parse(storedText(stored.value)) as ConfigRelease,
    revision: stored.revision,
  };
}

/** changeKey()'s `next` for an entry that leaves the base value as it is. */
const KEEP = Symbol("keep");

/**
 * Appends `e` to the key's history and sets its base value to `next`
 * (undefined: deleted; KEEP: unchanged), keeping the value it replaces for
 * `rollback --to` when the history keeps it. Every config command's write
 * to a key goes through here.
 */
function changeKey(kv: Txn, key: string, e: HistoryEntry, next: StoredValue | undefined | typeof KEEP): void {
  const k = CONFIG_PREFIX + key;
  const previous = kv.get(k);
  const before = previous?.revision;
  const after = next === KEEP ? before : next === undefined ? undefined : e.revision;
  const update = appendHistory(historyOf(key, kv.get(historyKey(key))?.value), e, before, after);
  if (previous !== undefined && update.keepSuperseded) kv.put(historyValueKey(key, previous.revision), previous.value);
  for (const r of update.dropValues) kv.delete(historyValueKey(key, r));
  kv.put(historyKey(key), storedHistory(key, update.entries));
  if (next === undefined) kv.delete(k);
  else if (next !== KEEP) kv.put(k, next);
}

/** Appends a history entry that leaves the base value as it is (a release created, changed or withdrawn). */
export function recordHistory(kv: Txn, key: string, e: HistoryEntry): void {
  changeKey(kv, key, e, KEEP);
}

/** The value `key` had from revision `to`, if the history still keeps it. */
function valueAt(kv: Txn, key: string, to: number): StoredValue {
  const entries = historyOf(key, kv.get(historyKey(key))?.value);
  const e = entries.find((x) => x.revision === to);
  const oldest = entries[0]?.revision;
  if (e === undefined && oldest !== undefined && to < oldest && entries.length >= HISTORY_ENTRIES) {
    throw new HistoryCompactedError(
      `revision ${to} is older than the history of "${key}" (it starts at ${oldest})`,
      oldest - 1,
    );
  }
  if (e === undefined || !setsValue(e)) {
    throw new MeshletError(
      "ERR_NOT_FOUND",
      `config key "${key}" has no value set at revision ${to} in its history (meshlet config history ${key})`,
    );
  }
  const current = kv.get(CONFIG_PREFIX + key);
  if (current !== undefined && current.revision === to) return current.value;
  const kept = kv.get(historyValueKey(key, to));
  if (kept === undefined) {
    const oldestKept = entries.find((x) => setsValue(x) && kv.get(historyValueKey(key, x.revision)) !== undefined);
    throw new HistoryCompactedError(
      `the value of "${key}" at revision ${to} is no longer kept (the last ${HISTORY_VALUES} replaced values are)`,
      (oldestKept?.revision ?? current?.revision ?? 1) - 1,
    );
  }
  return kept.value;
}

function provenance(c: Provenance): Provenance {
  return { at: typeof c.at === "number" ? c.at : undefined, by: typeof c.by === "string" ? c.by : undefined };
}

export function registerConfigCommands(sm: StateMachine): void {
  sm.register("config.put", (command, { kv, index }) => {
    const c = command as ConfigPut;
    const current = kv.get(CONFIG_PREFIX + c.key)?.revision ?? 0;
    if (c.ifRevision !== undefined && c.ifRevision !== current)
      throw new ConfigRevisionError(c.key, c.ifRevision, current);
    const value = storedFromBytes(Buffer.from(c.value, "base64"));
    changeKey(kv, c.key, entry(index, "put", provenance(c), { bytes: value.length }), value);
    return undefined;
  });
  sm.register("config.delete", (command, { kv, index }) => {
    const c = command as ConfigDelete;
    const k = CONFIG_PREFIX + c.key;
    const current = kv.get(k);
    if (current === undefined) throw new ConfigNotFoundError(c.key);
    if (c.ifRevision !== undefined && c.ifRevision !== current.revision)
      throw new ConfigRevisionError(c.key, c.ifRevision, current.revision);
    const release = activeRelease(kv, c.key);
    if (release !== undefined) throw releaseActive(c.key, release.name, "delete the key");
    changeKey(kv, c.key, entry(index, "delete", provenance(c)), undefined);
    return undefined;
  });
  sm.register("config.promote", (command, { kv, index }): ReleaseOutcome => {
    const c = command as ConfigPromote;
    const active = activeRelease(kv, c.key);
    if (active === undefined) throw noRelease(c.key);
    const value = storedFromText(active.release.spec.value);
    kv.delete(resourceKey("ConfigRelease", active.name));
    kv.delete(releaseIndexKey(c.key));
    changeKey(kv, c.key, entry(index, "promote", provenance(c), { release: active.name, bytes: value.length }), value);
    return { release: active.name };
  });
  sm.register("config.rollback", (command, { kv, index }): ReleaseOutcome => {
    const c = command as ConfigRollback;
    const active = activeRelease(kv, c.key);
    if (c.to === undefined) {
      if (active === undefined) throw noRelease(c.key);
      kv.delete(resourceKey("ConfigRelease", active.name));
      kv.delete(releaseIndexKey(c.key));
      recordHistory(kv, c.key, entry(index, "rollback", provenance(c), { release: active.name }));
      return { release: active.name };
    }
    if (active !== undefined) throw releaseActive(c.key, active.name, "roll the base value back");
    const value = valueAt(kv, c.key, c.to);
    changeKey(kv, c.key, entry(index, "rollback", provenance(c), { to: c.to, bytes: value.length }), value);
    return { release: null, to: c.to };
  });
}

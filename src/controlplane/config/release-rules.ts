import type { ConfigRelease, Resource } from "../../config/resources.ts";
import type { KvOp } from "../registry/kv-ops.ts";
import { RESOURCES_PREFIX } from "../resources/keys.ts";
import type { Txn } from "../state/machine.ts";
import { storedFromText, storedText } from "../state/value.ts";
import { CONFIG_PREFIX, recordHistory } from "./commands.ts";
import { keyMissing, releaseExists } from "./errors.ts";
import { entry, type Provenance } from "./history.ts";
import { releaseIndexKey } from "./release-index.ts";
import { describeSelector } from "./selection.ts";

const RELEASES = `${RESOURCES_PREFIX}ConfigRelease/`;

/**
 * The rules a ConfigRelease obeys whichever way it is written (`meshlet
 * apply`, PUT or DELETE of the resource): its key must have a base value, and
 * a key has at most one release. Runs in the resource commands' handler before
 * their ops are applied, on the state at the entry, so two operators racing
 * cannot both win; a refusal rejects the whole command. Keeps the release
 * index and the key's history.
 */
export function applyReleaseRules(kv: Txn, ops: readonly KvOp[], revision: number, who: Provenance): void {
  for (const op of ops) {
    if (!op.key.startsWith(RELEASES)) continue;
    const name = op.key.slice(RELEASES.length);
    const stored = kv.get(op.key);
    const before = stored === undefined ? undefined : (JSON.parse(storedText(stored.value)) as ConfigRelease);
    if (op.op === "delete") {
      if (before !== undefined) withdraw(kv, before.spec.key, name, revision, who);
      continue;
    }
    const release = JSON.parse(op.value) as ConfigRelease;
    const { key } = release.spec;
    if (kv.get(CONFIG_PREFIX + key) === undefined) throw keyMissing(key);
    const owner = kv.get(releaseIndexKey(key));
    if (owner !== undefined && storedText(owner.value) !== name)
      throw releaseExists(key, storedText(owner.value), name);
    if (before !== undefined && before.spec.key !== key) withdraw(kv, before.spec.key, name, revision, who);
    kv.put(releaseIndexKey(key), storedFromText(name));
    recordHistory(
      kv,
      key,
      entry(revision, "release", who, {
        release: name,
        selector: describeSelector(release.spec.selector),
        bytes: Buffer.byteLength(release.spec.value),
      }),
    );
  }
}

/** The release no longer applies to `key`: every instance is back on the base value. */
function withdraw(kv: Txn, key: string, name: string, revision: number, who: Provenance): void {
  const owner = kv.get(releaseIndexKey(key));
  if (owner !== undefined && storedText(owner.value) === name) kv.delete(releaseIndexKey(key));
  recordHistory(kv, key, entry(revision, "rollback", who, { release: name }));
}

/** Why a ConfigRelease among `resources` carries a value over the node's limit (413), or undefined. */
export function oversizedRelease(resources: readonly Resource[], limit: number): string | undefined {
  for (const r of resources) {
    if (r.kind !== "ConfigRelease") continue;
    const bytes = Buffer.byteLength(r.spec.value);
    if (bytes > limit)
      return `ConfigRelease/${r.metadata.name} spec.value: ${bytes} bytes exceeds the limit of ${limit} (--max-value-size)`;
  }
  return undefined;
}

import { MeshletError } from "../../common/errors.ts";
import type { Resource, ResourceKind } from "../../config/resources.ts";
import type { KvOp, KvView, Outcome } from "../registry/kv-ops.ts";
import { RESOURCES_PREFIX, resourceKey } from "./keys.ts";
import { type PlannedResource, planWrites, type StoredResource } from "./plan.ts";

/** `at`: the proposing node's clock (ms), for the config center's release history. */
export type ResourceCommand = {
  at?: number;
} /** Many resources, one entry: all are written or none. Resources were validated by the proposer. */ & (
  | { type: "mesh.apply"; resources: Resource[] }
  /** PUT of one resource; `ifRevision` 0 = create only. */
  | { type: "mesh.resource.put"; resource: Resource; ifRevision?: number }
  | { type: "mesh.resource.delete"; kind: ResourceKind; name: string; ifRevision?: number }
);

export class RevisionMismatchError extends MeshletError {
  constructor(key: string, expected: number, actual: number) {
    super("ERR_REVISION_MISMATCH", `${key} is at revision ${actual}, not ${expected}`);
    this.name = "RevisionMismatchError";
  }
}

export class ResourceNotFoundError extends MeshletError {
  constructor(kind: string, name: string) {
    super("ERR_NOT_FOUND", `${kind.toLowerCase()}/${name} not found`);
    this.name = "ResourceNotFoundError";
  }
}

/** The revision of one key; ranges over the key itself, the narrowest query the view offers. */
function revisionOf(kv: KvView, key: string): number | undefined {
  if (kv.get(key) === undefined) return undefined;
  return kv.range(key).find((e) => e.key === key)?.revision;
}

/** Every stored resource, keyed as in the KV. */
export function storedResources(kv: KvView): Map<string, StoredResource> {
  const out = new Map<string, StoredResource>();
  for (const e of kv.range(RESOURCES_PREFIX)) {
    out.set(e.key, { resource: JSON.parse(e.value) as Resource, revision: e.revision });
  }
  return out;
}

/**
 * Re-plans against the state at this entry, so the reported actions are
 * exact even when another apply was ordered first; `ifRevision` (0 = must not
 * exist) makes PUT and DELETE compare-and-set.
 */
export function applyResourceCommand(
  kv: KvView,
  command: ResourceCommand,
): Outcome<PlannedResource[] | { deleted: boolean }> {
  if (command.type === "mesh.apply" || command.type === "mesh.resource.put") {
    const resources = command.type === "mesh.apply" ? command.resources : [command.resource];
    if (command.type === "mesh.resource.put" && command.ifRevision !== undefined) {
      const key = resourceKey(command.resource.kind, command.resource.metadata.name);
      const actual = revisionOf(kv, key) ?? 0;
      if (actual !== command.ifRevision) throw new RevisionMismatchError(key, command.ifRevision, actual);
    }
    const plan = planWrites((key) => kv.get(key), resources);
    return { ops: plan.writes.map((w): KvOp => ({ op: "put", ...w })), result: plan.results };
  }
  const key = resourceKey(command.kind, command.name);
  const revision = revisionOf(kv, key);
  if (revision === undefined) throw new ResourceNotFoundError(command.kind, command.name);
  if (command.ifRevision !== undefined && revision !== command.ifRevision) {
    throw new RevisionMismatchError(key, command.ifRevision, revision);
  }
  return { ops: [{ op: "delete", key }], result: { deleted: true } };
}

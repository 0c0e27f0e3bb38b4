import { MeshletError } from "../../common/errors.ts";
import { type Finding, formatFinding } from "../../config/finding.ts";
import { checkMesh, ERROR_KINDS } from "../../config/mesh-check.ts";
import { RESOURCE_KINDS, type Resource, type ResourceKind } from "../../config/resources.ts";
import type { KvOp, KvView, Outcome } from "../registry/kv-ops.ts";
import { RESOURCES_PREFIX, resourceKey } from "./keys.ts";
import { newErrors, type PlannedResource, planWrites, type StoredResource, withChanges } from "./plan.ts";

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

/**
 * The change would give the state a resource that sidecars refuse (the
 * shared check's errors, config/mesh-check.ts): HTTP 422, nothing written.
 */
export class ConfigRejectedError extends MeshletError {
  readonly findings: readonly Finding[];
  constructor(findings: readonly Finding[]) {
    super("ERR_CONFIG_REJECTED", findings.map(formatFinding).join("\n"));
    this.name = "ConfigRejectedError";
    this.findings = findings;
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

/**
 * Decoded stored resources by KV key, from the previous call: a call parses
 * only the values that changed since (JSON.parse of every resource was most
 * of an apply's cost on a node with a few thousand). Checked by value, not
 * revision, so two KVs in one process (tests) can never mix. Callers must not
 * mutate what they get.
 */
const decoded = new Map<string, { json: string; resource: Resource }>();

/** Every stored resource (of one kind, when given), keyed as in the KV. */
export function storedResources(kv: KvView, kind?: ResourceKind): Map<string, StoredResource> {
  const prefix = kind === undefined ? RESOURCES_PREFIX : `${RESOURCES_PREFIX}${kind}/`;
  const out = new Map<string, StoredResource>();
  for (const e of kv.range(prefix)) {
    const hit = decoded.get(e.key);
    const resource = hit !== undefined && hit.json === e.value ? hit.resource : (JSON.parse(e.value) as Resource);
    if (hit?.resource !== resource) decoded.set(e.key, { json: e.value, resource });
    out.set(e.key, { resource, revision: e.revision });
  }
  // Forget what was deleted under the prefix just read.
  for (const key of decoded.keys()) if (key.startsWith(prefix) && !out.has(key)) decoded.delete(key);
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
    if (plan.writes.length > 0) refuseNewErrors(kv, resources, []);
    return { ops: plan.writes.map((w): KvOp => ({ op: "put", ...w })), result: plan.results };
  }
  const key = resourceKey(command.kind, command.name);
  const revision = revisionOf(kv, key);
  if (revision === undefined) throw new ResourceNotFoundError(command.kind, command.name);
  if (command.ifRevision !== undefined && revision !== command.ifRevision) {
    throw new RevisionMismatchError(key, command.ifRevision, revision);
  }
  refuseNewErrors(kv, [], [key]);
  return { ops: [{ op: "delete", key }], result: { deleted: true } };
}

/**
 * The HTTP layer checked the change against the state it read; another change
 * may have been ordered in between (two applies of two Policies on one
 * target). Checked again here, on the state at this entry, on every node
 * alike (a pure function of the KV), so the state never holds what a sidecar
 * refuses. Only a change to a kind the error rules read can add an error, and
 * only those kinds are read: an apply of Services and Routes costs nothing here.
 */
function refuseNewErrors(kv: KvView, put: readonly Resource[], deleted: readonly string[]): void {
  const touched = [...put.map((r) => r.kind), ...deleted.map(kindOfKey)];
  if (!touched.some((k) => k !== undefined && ERROR_KINDS.has(k))) return;
  const relevant = (r: Resource) => ERROR_KINDS.has(r.kind);
  const before: Resource[] = [];
  for (const kind of ERROR_KINDS) for (const s of storedResources(kv, kind).values()) before.push(s.resource);
  const errors = newErrors(before, checkMesh(withChanges(before, put.filter(relevant), deleted)));
  if (errors.length > 0) throw new ConfigRejectedError(errors);
}

function kindOfKey(key: string): ResourceKind | undefined {
  const kind = key.slice(RESOURCES_PREFIX.length).split("/")[0];
  return RESOURCE_KINDS.find((k) => k === kind);
}

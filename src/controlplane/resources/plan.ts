import type { Finding } from "../../config/finding.ts";
import { checkMesh } from "../../config/mesh-check.ts";
import type { Resource, ResourceKind } from "../../config/resources.ts";
import { canonicalJson } from "./canonical.ts";
import { resourceKey } from "./keys.ts";

export type ApplyAction = "created" | "configured" | "unchanged";

export interface StoredResource {
  resource: Resource;
  revision: number;
}

export interface PlannedResource {
  kind: ResourceKind;
  name: string;
  action: ApplyAction;
}

export interface ApplyPlan {
  /** In the order the resources were given. */
  results: PlannedResource[];
  /** Only what changes: the KV writes of one all-or-nothing command. */
  writes: { key: string; value: string }[];
  /** What the shared check finds in the state after the apply that it did not find before: a sidecar would refuse it. */
  errors: Finding[];
  warnings: Finding[];
}

/**
 * The writes and per-resource actions of applying `incoming`, given the
 * stored canonical JSON of each key. Stored values are canonical JSON, so
 * comparing strings is comparing resources, and nothing else is decoded: the
 * state-machine handler runs this on every node for every apply.
 */
export function planWrites(
  storedJson: (key: string) => string | undefined,
  incoming: readonly Resource[],
): Pick<ApplyPlan, "results" | "writes"> {
  const results: PlannedResource[] = [];
  const writes: { key: string; value: string }[] = [];
  for (const resource of incoming) {
    const key = resourceKey(resource.kind, resource.metadata.name);
    const value = canonicalJson(resource);
    const before = storedJson(key);
    const action: ApplyAction = before === undefined ? "created" : before === value ? "unchanged" : "configured";
    results.push({ kind: resource.kind, name: resource.metadata.name, action });
    if (action !== "unchanged") writes.push({ key, value });
  }
  return { results, writes };
}

/**
 * What applying `incoming` on top of `current` would do, checked as a sidecar
 * checks what it receives (config/mesh-check.ts) on the resulting state. Pure,
 * so the HTTP dry run and the real apply give the same answer; the handler
 * re-plans (planWrites) and re-checks (newErrors) against the state at the
 * entry's index, so a write that raced in between is judged correctly.
 */
export function planApply(current: ReadonlyMap<string, StoredResource>, incoming: readonly Resource[]): ApplyPlan {
  const stored = new Map<string, string>();
  for (const [key, s] of current) stored.set(key, canonicalJson(s.resource));
  const { results, writes } = planWrites((key) => stored.get(key), incoming);
  const before = [...current.values()].map((s) => s.resource);
  const after = withChanges(before, incoming, []);
  const findings = checkMesh(after);
  return {
    results,
    writes,
    errors: newErrors(before, findings),
    warnings: findings.filter((f) => f.severity !== "error"),
  };
}

/** `resources` with `put` written over and `deleted` (keys) removed. */
export function withChanges(
  resources: readonly Resource[],
  put: readonly Resource[],
  deleted: readonly string[],
): Resource[] {
  const byKey = new Map<string, Resource>();
  for (const r of resources) byKey.set(resourceKey(r.kind, r.metadata.name), r);
  for (const r of put) byKey.set(resourceKey(r.kind, r.metadata.name), r);
  for (const key of deleted) byKey.delete(key);
  return [...byKey.values()];
}

/**
 * The errors of `after` (findings of the state a change produces) that the
 * state `before` it did not have. A change is refused for these only: an
 * error already stored (written before this check existed, or by an older
 * node) does not block unrelated changes, and a change may fix it.
 */
export function newErrors(before: readonly Resource[], after: readonly Finding[]): Finding[] {
  const errors = after.filter((f) => f.severity === "error");
  if (errors.length === 0) return [];
  const known = new Set(checkMesh(before).map(findingKey));
  return errors.filter((f) => !known.has(findingKey(f)));
}

function findingKey(f: Finding): string {
  return `${f.code}\n${f.resource}\n${f.path}\n${f.message}`;
}

/** `route/reviews configured`, as kubectl prints it. */
export function formatPlanned(p: PlannedResource, dryRun = false): string {
  return `${p.kind.toLowerCase()}/${p.name} ${p.action}${dryRun ? " (dry run)" : ""}`;
}

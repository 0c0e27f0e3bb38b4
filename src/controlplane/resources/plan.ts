import { checkReferences, type ReferenceWarning } from "../../config/references.ts";
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
  warnings: ReferenceWarning[];
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
 * What applying `incoming` on top of `current` would do, with the reference
 * warnings of the resulting state. Pure, so the HTTP dry run and the real
 * apply give the same answer; the handler re-plans (planWrites) against the
 * state at the entry's index, so a write that raced in between is compared
 * correctly.
 */
export function planApply(current: ReadonlyMap<string, StoredResource>, incoming: readonly Resource[]): ApplyPlan {
  const stored = new Map<string, string>();
  for (const [key, s] of current) stored.set(key, canonicalJson(s.resource));
  const { results, writes } = planWrites((key) => stored.get(key), incoming);
  const after = new Map<string, Resource>();
  for (const [key, s] of current) after.set(key, s.resource);
  for (const r of incoming) after.set(resourceKey(r.kind, r.metadata.name), r);
  return { results, writes, warnings: checkReferences([...after.values()]) };
}

/** `route/reviews configured`, as kubectl prints it. */
export function formatPlanned(p: PlannedResource, dryRun = false): string {
  return `${p.kind.toLowerCase()}/${p.name} ${p.action}${dryRun ? " (dry run)" : ""}`;
}

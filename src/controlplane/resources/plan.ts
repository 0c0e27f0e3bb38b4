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
 * What applying `incoming` on top of `current` would do. Pure, so the HTTP
 * dry run, `meshlet diff` and the state-machine handler give the same answer;
 * the handler re-plans against the state at the entry's index, so a write
 * that raced in between is compared correctly.
 */
export function planApply(current: ReadonlyMap<string, StoredResource>, incoming: readonly Resource[]): ApplyPlan {
  const results: PlannedResource[] = [];
  const writes: { key: string; value: string }[] = [];
  const after = new Map<string, Resource>();
  for (const [key, stored] of current) after.set(key, stored.resource);
  for (const resource of incoming) {
    const key = resourceKey(resource.kind, resource.metadata.name);
    const value = canonicalJson(resource);
    const before = current.get(key);
    const action: ApplyAction =
      before === undefined ? "created" : canonicalJson(before.resource) === value ? "unchanged" : "configured";
    results.push({ kind: resource.kind, name: resource.metadata.name, action });
    if (action !== "unchanged") writes.push({ key, value });
    after.set(key, resource);
  }
  return { results, writes, warnings: checkReferences([...after.values()]) };
}

/** `route/reviews configured`, as kubectl prints it. */
export function formatPlanned(p: PlannedResource, dryRun = false): string {
  return `${p.kind.toLowerCase()}/${p.name} ${p.action}${dryRun ? " (dry run)" : ""}`;
}

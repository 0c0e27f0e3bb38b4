import { type Finding, sortFindings } from "../config/finding.ts";
import { checkMesh, errorsOf, type MeshCheckOptions } from "../config/mesh-check.ts";
import type { Resource } from "../config/resources.ts";

/** What a sidecar runs of a snapshot, and what it refused. */
export interface Admitted {
  resources: Resource[];
  /** One finding per refused resource (or more), errors only. */
  rejected: Finding[];
  /** The shared check's warnings for this sidecar (e.g. a global rate limit without --redis). */
  warnings: Finding[];
}

const keyOf = (r: Resource) => `${r.kind}/${r.metadata.name}`;

/**
 * Refuses resources one at a time, as Envoy refuses one listener or cluster
 * of an update and keeps the others: a resource the shared check (or the
 * source, `refused`) finds in error is replaced by its last good version, the
 * one running now, or left out when there is none. The rest is applied, so
 * one bad resource never takes unrelated services down. When a last good
 * version no longer fits the new snapshot (it conflicts again), it is left
 * out as well; each round removes a resource, so this ends.
 */
export function admitResources(
  incoming: readonly Resource[],
  refused: readonly Finding[],
  lastGood: ReadonlyMap<string, Resource>,
  options: MeshCheckOptions,
): Admitted {
  const rejected: Finding[] = [...refused];
  const byKey = new Map<string, Resource>();
  for (const r of incoming) byKey.set(keyOf(r), r);
  const restore = (key: string) => {
    const good = lastGood.get(key);
    if (good === undefined) byKey.delete(key);
    else byKey.set(key, good);
  };
  for (const f of refused) restore(f.resource);

  let findings = checkMesh([...byKey.values()], options);
  let errors = errorsOf(findings);
  const restored = new Set<string>();
  while (errors.length > 0) {
    for (const e of errors) {
      if (!byKey.has(e.resource)) continue;
      if (!restored.has(e.resource)) {
        rejected.push(e);
        restored.add(e.resource);
        restore(e.resource);
      } else byKey.delete(e.resource);
    }
    findings = checkMesh([...byKey.values()], options);
    errors = errorsOf(findings);
  }
  return {
    resources: [...byKey.values()],
    rejected: sortFindings(rejected),
    warnings: findings.filter((f) => f.severity !== "error"),
  };
}

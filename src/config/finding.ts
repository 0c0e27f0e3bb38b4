import { compareStrings } from "../common/compare.ts";

/**
 * One thing found about a set of resources, by the check the control plane
 * and every sidecar share (mesh-check.ts) or by `meshlet analyze`.
 *
 * - error: a sidecar refuses the resource (keeps its last good version), so
 *   the control plane refuses the change that introduces it (HTTP 422).
 * - warning: applied, but probably not what was meant (a dangling reference,
 *   a rule that can never match); the request path degrades visibly (503 UH).
 * - info: worth knowing (`meshlet analyze` only).
 */
export type Severity = "error" | "warning" | "info";

export interface Finding {
  /** Stable, for scripts and tests: `PolicyConflict`, `ServiceNotFound`, `ShadowedRule`, ... */
  code: string;
  severity: Severity;
  /** `Policy/ratings` */
  resource: string;
  /** `spec.target` */
  path: string;
  message: string;
  /** Other resources involved (the other side of a conflict), so a CLI can point at whichever file it has. */
  related?: string[];
}

/** `Policy/b spec.target: service/ratings is also the target of Policy/a, which keeps it`: the sidecar's NACK line and the 422's. */
export function formatFinding(f: Pick<Finding, "resource" | "path" | "message">): string {
  return f.path === "" ? `${f.resource}: ${f.message}` : `${f.resource} ${f.path}: ${f.message}`;
}

const RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** Errors first, then by resource and path: a stable order for people and for diffs of the output. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      RANK[a.severity] - RANK[b.severity] ||
      compareStrings(a.resource, b.resource) ||
      compareStrings(a.path, b.path) ||
      compareStrings(a.code, b.code),
  );
}

import { compareStrings } from "../common/compare.ts";
import type { Finding } from "./finding.ts";
import { checkReferences } from "./references.ts";
import type { PeerAuthentication, Policy, Resource, ResourceKind } from "./resources.ts";

export interface MeshCheckOptions {
  /**
   * Whether `scope: global` rate limits have a Redis to share their budget
   * in: a sidecar knows (its --redis flag); the control plane does not (it
   * depends on each sidecar), and leaves it undefined.
   */
  redis?: boolean;
}

/**
 * The one check of a set of resources that both sides run: the control plane
 * on the state a change would produce, before it proposes the change, and
 * every sidecar on the snapshot it receives, before it compiles it. So a
 * change the control plane accepts is one no sidecar refuses (short of a
 * version skew), and its refusal carries the sidecar's own words.
 *
 * Input: schema-valid resources (parseResources / resourceSchema). Errors name
 * the resource a sidecar leaves out; everything else is a warning.
 */
export function checkMesh(resources: readonly Resource[], options: MeshCheckOptions = {}): Finding[] {
  return [
    ...policyConflicts(resources),
    ...peerAuthenticationConflicts(resources),
    ...checkReferences(resources),
    ...redisFindings(resources, options),
  ];
}

/**
 * The kinds the error rules read (two Policies on one target, two PeerAuthentications for one scope). An
 * error can only appear or go with a change to one of these, so the control
 * plane's state-machine handler checks only changes that touch them, and only
 * over them. A test holds every error rule to it.
 */
export const ERROR_KINDS: ReadonlySet<ResourceKind> = new Set(["Policy", "PeerAuthentication"]);

export function errorsOf(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => f.severity === "error");
}

function targetOf(p: Policy): string {
  const t = p.spec.target;
  return "service" in t ? `service/${t.service}` : `route/${t.route}`;
}

/**
 * One Policy per target: there is no field-by-field merge, so a second one
 * would silently replace the first. The Policy whose name sorts first keeps
 * the target (the same on every sidecar, whatever order resources arrive in);
 * each other one is refused.
 */
function policyConflicts(resources: readonly Resource[]): Finding[] {
  const byTarget = new Map<string, Policy[]>();
  for (const r of resources) {
    if (r.kind !== "Policy") continue;
    const target = targetOf(r);
    const list = byTarget.get(target);
    if (list === undefined) byTarget.set(target, [r]);
    else list.push(r);
  }
  const findings: Finding[] = [];
  for (const [target, list] of byTarget) {
    if (list.length < 2) continue;
    const [keeper, ...others] = [...list].sort((a, b) => compareStrings(a.metadata.name, b.metadata.name));
    if (keeper === undefined) continue;
    const kept = `Policy/${keeper.metadata.name}`;
    for (const p of others) {
      findings.push({
        code: "PolicyConflict",
        severity: "error",
        resource: `Policy/${p.metadata.name}`,
        path: "spec.target",
        message: `${target} is also the target of ${kept}, which keeps it (one Policy per target; the name that sorts first wins): merge them, or target a route`,
        related: [kept],
      });
    }
  }
  return findings;
}

/** What a PeerAuthentication covers: the mesh, or one namespace. */
export function peerAuthenticationScope(p: PeerAuthentication): string {
  return p.spec.namespace === undefined ? "the whole mesh" : `namespace "${p.spec.namespace}"`;
}

/**
 * At most one PeerAuthentication for the mesh and one per namespace, as
 * Istio admits one mesh-wide and one namespace-wide policy: two modes for
 * one scope have no order to settle them. As with Policies, the name that
 * sorts first keeps the scope on every sidecar, and each other one is refused
 * (the control plane refuses the apply that would store it).
 */
function peerAuthenticationConflicts(resources: readonly Resource[]): Finding[] {
  const byScope = new Map<string, PeerAuthentication[]>();
  for (const r of resources) {
    if (r.kind !== "PeerAuthentication") continue;
    const scope = peerAuthenticationScope(r);
    const list = byScope.get(scope);
    if (list === undefined) byScope.set(scope, [r]);
    else list.push(r);
  }
  const findings: Finding[] = [];
  for (const [scope, list] of byScope) {
    if (list.length < 2) continue;
    const [keeper, ...others] = [...list].sort((a, b) => compareStrings(a.metadata.name, b.metadata.name));
    if (keeper === undefined) continue;
    const kept = `PeerAuthentication/${keeper.metadata.name}`;
    for (const p of others) {
      findings.push({
        code: "PeerAuthenticationConflict",
        severity: "error",
        resource: `PeerAuthentication/${p.metadata.name}`,
        path: p.spec.namespace === undefined ? "spec" : "spec.namespace",
        message: `${scope} also gets its mTLS mode from ${kept}, which keeps it (one PeerAuthentication per namespace and one without a namespace; the name that sorts first wins): delete one of them`,
        related: [kept],
      });
    }
  }
  return findings;
}

/**
 * `scope: global` without Redis is not an error of the resource: it depends
 * on the sidecar. A sidecar without --redis enforces the limit locally at the
 * full rate (its gauge meshlet_rate_limit_global_degraded says so) rather than
 * refusing the whole Policy with its breaker and fallback.
 */
function redisFindings(resources: readonly Resource[], options: MeshCheckOptions): Finding[] {
  if (options.redis === true) return [];
  const findings: Finding[] = [];
  for (const r of resources) {
    if (r.kind !== "Policy" || r.spec.rateLimit?.scope !== "global") continue;
    findings.push({
      code: "GlobalRateLimitWithoutRedis",
      severity: "warning",
      resource: `Policy/${r.metadata.name}`,
      path: "spec.rateLimit.scope",
      message:
        options.redis === false
          ? "scope: global needs --redis HOST:PORT; this sidecar limits locally at the full rate instead"
          : "scope: global needs every calling sidecar started with --redis HOST:PORT; one without it limits locally at the full rate",
    });
  }
  return findings;
}

import { spiffeIdFor } from "../../security/spiffe.ts";
import type { CompiledSnapshot } from "../snapshot.ts";

export type MtlsMode = "STRICT" | "PERMISSIVE" | "DISABLE";

/**
 * Each Service's mTLS mode as written (spec.mtls.mode), read once per
 * snapshot. A Service without one is STRICT: what a sidecar holding a
 * certificate does by default (docs/security.md).
 */
export function mtlsModes(snap: CompiledSnapshot): Map<string, MtlsMode> {
  const modes = new Map<string, MtlsMode>();
  for (const r of snap.resources) if (r.kind === "Service") modes.set(r.metadata.name, r.spec.mtls?.mode ?? "STRICT");
  return modes;
}

/**
 * The SPIFFE IDs a peer sidecar of each Service may present: `/service/<name>`, and
 * `/ns/<namespace>/sa/<account>` of each account the Service lists (spec.serviceAccounts), since the control
 * plane signs those for the Service's sidecars and nothing else. Read once per snapshot or trust domain.
 */
export function peerIdentities(snap: CompiledSnapshot, trustDomain: string): Map<string, ReadonlySet<string>> {
  const ids = new Map<string, ReadonlySet<string>>();
  for (const r of snap.resources) {
    if (r.kind !== "Service") continue;
    const set = new Set([spiffeIdFor(trustDomain, { service: r.metadata.name })]);
    for (const a of r.spec.serviceAccounts ?? [])
      set.add(spiffeIdFor(trustDomain, { namespace: a.namespace, serviceAccount: a.name }));
    ids.set(r.metadata.name, set);
  }
  return ids;
}

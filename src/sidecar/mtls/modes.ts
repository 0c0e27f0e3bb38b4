import type { MtlsMode, Resource } from "../../config/resources.ts";
import { spiffeIdFor } from "../../security/spiffe.ts";
import type { CompiledSnapshot } from "../snapshot.ts";

/**
 * The mTLS modes a snapshot sets, at the three levels Istio users know: a
 * Service's own spec.mtls (the workload level), a namespace's
 * PeerAuthentication, and the mesh-wide one (no namespace). Read once per
 * snapshot; effectiveMode picks from them.
 */
export interface MtlsModes {
  /** Services that set spec.mtls.mode. */
  services: ReadonlyMap<string, MtlsMode>;
  /** PeerAuthentication by spec.namespace. */
  namespaces: ReadonlyMap<string, MtlsMode>;
  /** The PeerAuthentication without a namespace, if any. */
  mesh: MtlsMode | undefined;
}

export function mtlsModes(resources: readonly Resource[]): MtlsModes {
  const services = new Map<string, MtlsMode>();
  const namespaces = new Map<string, MtlsMode>();
  let mesh: MtlsMode | undefined;
  for (const r of resources) {
    if (r.kind === "Service" && r.spec.mtls !== undefined) services.set(r.metadata.name, r.spec.mtls.mode);
    else if (r.kind === "PeerAuthentication") {
      // The shared check (mesh-check.ts) admitted at most one per namespace and one for the mesh.
      if (r.spec.namespace === undefined) mesh = r.spec.mtls.mode;
      else namespaces.set(r.spec.namespace, r.spec.mtls.mode);
    }
  }
  return { services, namespaces, mesh };
}

/**
 * The mode of the inbound port of a sidecar of `service` in `namespace` (undefined: it has none): its Service's
 * spec.mtls, else its namespace's PeerAuthentication, else the mesh-wide one, else STRICT (docs/security.md,
 * "Which mode applies"). The callee applies it to its listener; a caller to decide how it dials the callee.
 */
export function effectiveMode(modes: MtlsModes, service: string, namespace: string | undefined): MtlsMode {
  return (
    modes.services.get(service) ??
    (namespace === undefined ? undefined : modes.namespaces.get(namespace)) ??
    modes.mesh ??
    "STRICT"
  );
}

/** Equal keys for equal modes, whatever order resources came in: part of the outbound transport plan. */
export function modesKey(modes: MtlsModes): string {
  const list = (m: ReadonlyMap<string, MtlsMode>) =>
    [...m]
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join(",");
  return `${list(modes.services)}|${list(modes.namespaces)}|${modes.mesh ?? "-"}`;
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

import { createHash } from "node:crypto";
import type { Resource } from "../../config/resources.ts";
import type { Endpoint } from "../../gen/meshlet/discovery/v1/Endpoint.ts";
import type { Snapshot } from "../../gen/meshlet/discovery/v1/Snapshot.ts";
import type { RegisteredEndpoint } from "../registry/commands.ts";
import { canonicalJson } from "../resources/canonical.ts";
import { computeScope, inScope, type ScopeRequest } from "./scope.ts";

/** The mesh part of one node's applied state, at one revision. */
export interface MeshState {
  revision: number;
  resources: readonly { resource: Resource; revision: number }[];
  endpoints: readonly RegisteredEndpoint[];
}

export interface ScopedSnapshot {
  snapshot: Required<Omit<Snapshot, "nonce">>;
  /** Digest of the content without its version: equal digests mean nothing this sidecar sees changed. */
  digest: string;
}

/**
 * One sidecar's view of the state: the resources in its scope and the
 * endpoints of its services, registered and static (Service spec.endpoints,
 * for instances outside the mesh; their instance id is "static-N").
 */
export function buildSnapshot(state: MeshState, request: ScopeRequest): ScopedSnapshot {
  const scope = computeScope(
    state.resources.map((r) => r.resource),
    request,
  );
  const resources = state.resources
    .filter((r) => inScope(scope, r.resource))
    .map((r) => ({
      kind: r.resource.kind,
      name: r.resource.metadata.name,
      revision: r.revision,
      json: canonicalJson(r.resource),
    }))
    .sort((a, b) => compare(`${a.kind}/${a.name}`, `${b.kind}/${b.name}`));
  const endpoints: Endpoint[] = [];
  for (const r of state.resources) {
    if (r.resource.kind !== "Service" || !scope.services.has(r.resource.metadata.name)) continue;
    r.resource.spec.endpoints.forEach((e, i) => {
      endpoints.push({
        service: r.resource.metadata.name,
        instance: `static-${i}`,
        address: e.address,
        port: e.port,
        labels: e.labels ?? {},
        weight: e.weight,
      });
    });
  }
  for (const e of state.endpoints) {
    if (!scope.services.has(e.service)) continue;
    endpoints.push({
      service: e.service,
      instance: e.instance,
      address: e.address,
      port: e.port,
      labels: e.labels,
      weight: e.weight,
    });
  }
  endpoints.sort((a, b) => compare(`${a.service}/${a.instance}`, `${b.service}/${b.instance}`));
  const digest = createHash("sha256")
    .update(canonicalJson({ resources: resources.map((r) => [r.kind, r.name, r.json]), endpoints }))
    .digest("base64url");
  return { snapshot: { version: state.revision, resources, endpoints }, digest };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

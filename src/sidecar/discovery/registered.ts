import type { Endpoint__Output } from "../../gen/meshlet/discovery/v1/Endpoint.ts";
import type { MeshSnapshot } from "./client.ts";

/**
 * The endpoints of a discovery snapshot that sidecars registered. The snapshot also lists every Service's
 * static endpoints (spec.endpoints: apps outside the mesh, plain text); they are told apart by the Service
 * that declares them rather than by instance id, which a registering sidecar chooses.
 */
export function registeredEndpoints(s: Pick<MeshSnapshot, "resources" | "endpoints">): Endpoint__Output[] {
  const declared = new Set<string>();
  for (const r of s.resources) {
    if (r.kind !== "Service") continue;
    for (const e of r.spec.endpoints) declared.add(`${r.metadata.name}|${e.address}:${e.port}`);
  }
  return s.endpoints.filter((e) => !declared.has(`${e.service}|${e.address}:${e.port}`));
}

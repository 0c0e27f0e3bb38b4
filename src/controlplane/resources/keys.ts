import type { ResourceKind } from "../../config/resources.ts";

/** Where the mesh's data lives in the control plane's revisioned KV. */
export const RESOURCES_PREFIX = "mesh/resources/";
export const ENDPOINTS_PREFIX = "mesh/endpoints/";
export const LEASES_PREFIX = "mesh/leases/";

export function resourceKey(kind: ResourceKind, name: string): string {
  return `${RESOURCES_PREFIX}${kind}/${name}`;
}

export function endpointKey(service: string, instance: string): string {
  return `${ENDPOINTS_PREFIX}${service}/${instance}`;
}

export function leaseKey(id: string): string {
  return `${LEASES_PREFIX}${id}`;
}

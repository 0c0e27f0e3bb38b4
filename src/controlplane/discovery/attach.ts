import type { SidecarView } from "../resources/api-types.ts";

/** Every sidecar connected to the cluster, and the nodes that did not answer in time. */
export interface ClusterSidecars {
  sidecars: SidecarView[];
  unreachable: string[];
}

/**
 * Which Discovery runtime runs in which node, so the HTTP module (mounted with
 * only the node) can list the cluster's sidecars without a new parameter on
 * every route module.
 */
const runtimes = new WeakMap<object, { sidecars(): Promise<ClusterSidecars> }>();

export function attachDiscovery(node: object, runtime: { sidecars(): Promise<ClusterSidecars> }): void {
  runtimes.set(node, runtime);
}

export function sidecarsOf(node: object): Promise<ClusterSidecars> {
  return runtimes.get(node)?.sidecars() ?? Promise.resolve({ sidecars: [], unreachable: [] });
}

import type { NodeView, SidecarView } from "../resources/api-types.ts";

/** Every sidecar connected to the cluster, the nodes that did not answer in time, and those that did. */
export interface ClusterSidecars {
  sidecars: SidecarView[];
  unreachable: string[];
  /** This node and every node that answered, with its own view of Raft. */
  nodes: NodeView[];
}

/**
 * Which Discovery runtime runs in which node, so the HTTP module (mounted with
 * only the node) can list the cluster's sidecars without a new parameter on
 * every route module.
 */
interface DiscoveryRuntimeView {
  /** With `configKey`, each sidecar says what it holds of that app-config key. */
  sidecars(configKey?: string): Promise<ClusterSidecars>;
}

const runtimes = new WeakMap<object, DiscoveryRuntimeView>();

export function attachDiscovery(node: object, runtime: DiscoveryRuntimeView): void {
  runtimes.set(node, runtime);
}

export function sidecarsOf(node: object, configKey?: string): Promise<ClusterSidecars> {
  return runtimes.get(node)?.sidecars(configKey) ?? Promise.resolve({ sidecars: [], unreachable: [], nodes: [] });
}

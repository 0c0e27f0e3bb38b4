import type { SidecarView } from "../resources/api-types.ts";

/**
 * Which Discovery server runs in which node, so the HTTP module (mounted with
 * only the node) can list that node's sidecars without a new parameter on
 * every route module.
 */
const servers = new WeakMap<object, { sidecars(): SidecarView[] }>();

export function attachDiscovery(node: object, server: { sidecars(): SidecarView[] }): void {
  servers.set(node, server);
}

export function sidecarsOf(node: object): SidecarView[] {
  return servers.get(node)?.sidecars() ?? [];
}

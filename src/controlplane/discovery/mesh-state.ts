import type { Resource } from "../../config/resources.ts";
import type { RegisteredEndpoint } from "../registry/commands.ts";
import type { KvView } from "../registry/kv-ops.ts";
import { ENDPOINTS_PREFIX, RESOURCES_PREFIX } from "../resources/keys.ts";
import type { MeshState } from "./snapshot.ts";

/**
 * Decodes the mesh keys of the applied KV. Values were validated before they
 * were proposed, so they are trusted here. Decoded resources are kept by key
 * and revision, so a change re-decodes only what it wrote.
 */
export function createMeshStateReader(): (kv: KvView, revision: number) => MeshState {
  let cache = new Map<string, { revision: number; resource: Resource }>();
  return (kv, revision) => {
    const next = new Map<string, { revision: number; resource: Resource }>();
    const resources = kv.range(RESOURCES_PREFIX).map((e) => {
      const hit = cache.get(e.key);
      const resource =
        hit !== undefined && hit.revision === e.revision ? hit.resource : (JSON.parse(e.value) as Resource);
      next.set(e.key, { revision: e.revision, resource });
      return { resource, revision: e.revision, json: e.value };
    });
    cache = next;
    return {
      revision,
      resources,
      endpoints: kv.range(ENDPOINTS_PREFIX).map((e) => JSON.parse(e.value) as RegisteredEndpoint),
    };
  };
}

export function readMeshState(kv: KvView, revision: number): MeshState {
  return createMeshStateReader()(kv, revision);
}

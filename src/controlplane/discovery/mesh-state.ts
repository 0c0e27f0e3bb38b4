import type { Resource } from "../../config/resources.ts";
import type { RegisteredEndpoint } from "../registry/commands.ts";
import type { KvView } from "../registry/kv-ops.ts";
import { ENDPOINTS_PREFIX, RESOURCES_PREFIX } from "../resources/keys.ts";
import type { MeshState } from "./snapshot.ts";

/**
 * Decodes the mesh keys of the applied KV. Values were validated before they
 * were proposed, so they are trusted here; this runs once per revision, not
 * once per sidecar.
 */
export function readMeshState(kv: KvView, revision: number): MeshState {
  return {
    revision,
    resources: kv
      .range(RESOURCES_PREFIX)
      .map((e) => ({ resource: JSON.parse(e.value) as Resource, revision: e.revision })),
    endpoints: kv.range(ENDPOINTS_PREFIX).map((e) => JSON.parse(e.value) as RegisteredEndpoint),
  };
}

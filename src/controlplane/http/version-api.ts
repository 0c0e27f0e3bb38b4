import { MESHLET_VERSION } from "../../common/version.ts";
import type { VersionResponse } from "../resources/api-types.ts";
import type { RouteModule } from "./router.ts";

/** GET /v1/version: the release this node runs, its id and its clock (for `meshlet version` and `meshlet check`). */
export const versionApi: RouteModule = (router, node) => {
  router.route("GET", "/v1/version", () => ({
    status: 200,
    body: {
      version: MESHLET_VERSION,
      node: node.id,
      nodeJs: process.versions.node,
      time: Date.now(),
    } satisfies VersionResponse,
  }));
};

import { configApi } from "./config-api.ts";
import type { RouteModule } from "./router.ts";
import { versionApi } from "./version-api.ts";

/** Every route module the control-plane HTTP server mounts; other control-plane modules append theirs here. */
export const ROUTE_MODULES: RouteModule[] = [configApi, versionApi];

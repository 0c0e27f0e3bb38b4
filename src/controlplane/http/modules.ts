import { configApi } from "./config-api.ts";
import { configCenterApi } from "./config-center-api.ts";
import type { RouteModule } from "./router.ts";
import { versionApi } from "./version-api.ts";

/**
 * Every route module the control-plane HTTP server mounts; other control-plane modules append theirs here.
 * The config center's `/v1/config/{key}:verb` routes come before the plain `/v1/config/{key}` ones.
 */
export const ROUTE_MODULES: RouteModule[] = [configCenterApi, configApi, versionApi];

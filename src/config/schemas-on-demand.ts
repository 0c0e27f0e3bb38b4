import { createRequire } from "node:module";
import type * as Schemas from "./resources.ts";

const require = createRequire(import.meta.url);
/** This module runs as .ts from the sources (tests) and as .js from dist (the CLI). */
const RESOURCES = import.meta.url.endsWith(".ts") ? "./resources.ts" : "./resources.js";

/**
 * The resource schemas (resources.ts, and zod with them), loaded on first
 * use, synchronously. A sidecar fed by the control plane receives resources
 * the control plane already checked with these schemas, in the form they
 * output: config/canonical.ts accepts those without zod, and only what it
 * cannot vouch for (version skew, a cache from another version, a caller of
 * the policy compiler that validated nothing) pays for loading zod, once.
 */
export function resourceSchemas(): typeof Schemas {
  return require(RESOURCES) as typeof Schemas;
}

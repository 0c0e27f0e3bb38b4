/**
 * undici's Pool on its own. The package root also loads fetch, WebSocket,
 * the caches and their WASM parser instances (about 12 MB more RSS in a
 * sidecar); the Pool module is the one the data path needs.
 */
declare module "undici/lib/dispatcher/pool.js" {
  import type { Pool } from "undici";

  const PoolClass: typeof Pool;
  export default PoolClass;
}

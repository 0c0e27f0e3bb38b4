import type { Access } from "./roles.ts";

/** Routes anyone may call: probes, metrics, and the dashboard's static page (which asks for a token itself). */
const OPEN = new Set(["GET /healthz", "GET /readyz", "GET /metrics", "GET /", "GET /dashboard/{file}"]);
/** Writes of resources, and fault experiments (role operator). */
const RESOURCES = new Set([
  "POST /v1/apply",
  "PUT /v1/resources/{kind}/{name}",
  "DELETE /v1/resources/{kind}/{name}",
  "POST /v1/chaos/experiments",
  "DELETE /v1/chaos/experiments",
  "DELETE /v1/chaos/experiments/{name}",
]);
/** Writes of one config key (role config-writer within its prefix). */
const CONFIG = new Set([
  "PUT /v1/config/{key*}",
  "DELETE /v1/config/{key*}",
  "POST /v1/config/{key*}:promote",
  "POST /v1/config/{key*}:rollback",
]);
/** Reads for admins only: who holds which role is a map for an attacker. */
const ADMIN_READS = new Set(["GET /v1/tokens"]);
/** Reads sent as POST because they carry a body. */
const READS_BY_POST = new Set(["POST /v1/analyze"]);

/**
 * What a call of `route` (the pattern it matched, as mounted) needs. Anything not listed is a read when it is
 * a GET and needs admin otherwise: a new write route is closed until someone opens it here.
 */
export function accessFor(method: string, route: string, params: Record<string, string>): Access {
  const id = `${method} ${route}`;
  if (OPEN.has(id)) return { kind: "open" };
  if (ADMIN_READS.has(id)) return { kind: "admin" };
  if (method === "GET" || method === "HEAD" || READS_BY_POST.has(id)) return { kind: "read" };
  if (RESOURCES.has(id)) return { kind: "resources" };
  if (CONFIG.has(id)) return { kind: "config", key: decodedKey(params.key ?? "") };
  return { kind: "admin" };
}

/** The key as the route decodes it; an undecodable one matches no prefix but "" (the route refuses it anyway). */
function decodedKey(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return `\u0000${raw}`;
  }
}

import { type Head, HttpError, single } from "./head.ts";
import { normalizePath, type PathOptions } from "./path.ts";

export interface Target {
  /** Normalized path, no query. */
  path: string;
  /** "?..." or "". */
  query: string;
  /** Routed by: the absolute-form URI's authority, else the Host field. */
  authority: string;
  /** The authority came from an absolute-form target (it replaces Host upstream). */
  absolute: boolean;
}

/** reg-name / IP-literal / port characters (RFC 3986 §3.2.2): anything else in Host is refused. */
const AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=%:[\]]+$/;

function checkAuthority(a: string, what: string): void {
  if (a === "" || !AUTHORITY.test(a)) throw new HttpError(400, "ERR_HOST", `invalid ${what}`);
}

/**
 * The request target (RFC 9112 §3.2) and Host (RFC 9112 §3.2.2): one Host
 * field, not empty; origin-form, absolute-form (routed by the URI's
 * authority, which wins over Host as the RFC says), asterisk-form for
 * OPTIONS only. CONNECT (authority-form) is refused by the caller.
 */
export function parseTarget(head: Head, o: PathOptions): Target {
  const hosts = head.names.filter((n) => n === "host").length;
  if (hosts > 1) throw new HttpError(400, "ERR_HOST", "more than one Host field");
  if (hosts === 0 && head.minor === 1) throw new HttpError(400, "ERR_HOST", "Host field missing");
  const host = single(head.names, head.values, "host");
  if (host !== undefined) checkAuthority(host, "Host");
  const t = head.target;
  let rest = t;
  let authority = host ?? "";
  let absolute = false;
  if (t === "*") {
    if (head.method !== "OPTIONS") throw new HttpError(400, "ERR_TARGET", "asterisk-form target outside OPTIONS");
    return { path: "*", query: "", authority, absolute };
  }
  if (t.charCodeAt(0) !== 47) {
    const scheme = t.indexOf("://");
    const name = scheme > 0 ? t.slice(0, scheme).toLowerCase() : "";
    if (name !== "http" && name !== "https") throw new HttpError(400, "ERR_TARGET", "invalid request target");
    const slash = t.indexOf("/", scheme + 3);
    const q = t.indexOf("?", scheme + 3);
    const end = slash >= 0 && (q < 0 || slash < q) ? slash : q >= 0 ? q : t.length;
    authority = t.slice(scheme + 3, end);
    checkAuthority(authority, "authority in the request target");
    if (authority.includes("@")) throw new HttpError(400, "ERR_TARGET", "userinfo in the request target");
    rest = end === t.length ? "/" : t.charCodeAt(end) === 63 ? `/${t.slice(end)}` : t.slice(end);
    absolute = true;
  }
  const q = rest.indexOf("?");
  const rawPath = q < 0 ? rest : rest.slice(0, q);
  const path = normalizePath(rawPath, o);
  if (path === undefined) throw new HttpError(400, "ERR_PATH", "path refused by normalization");
  return { path, query: q < 0 ? "" : rest.slice(q), authority, absolute };
}

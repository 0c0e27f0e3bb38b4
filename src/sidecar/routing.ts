import type { RouteMatch, StringMatch } from "../config/resources.ts";
import type { RequestView } from "./request-view.ts";

export type RequestMatcher = (req: RequestView, path: string) => boolean;

function stringMatcher(m: StringMatch): (v: string | undefined) => boolean {
  if (typeof m === "string") return (v) => v === m;
  if ("exact" in m) return (v) => v === m.exact;
  if ("prefix" in m) return (v) => v?.startsWith(m.prefix) === true;
  if ("regex" in m) {
    const re = new RegExp(`^(?:${m.regex})$`);
    return (v) => v !== undefined && re.test(v);
  }
  return (v) => (v !== undefined) === m.present;
}

/** Compiles one match block (all its conditions must hold) into a closure, regexes included, once per snapshot. */
export function compileMatch(m: RouteMatch): RequestMatcher {
  const checks: RequestMatcher[] = [];
  if (m.path !== undefined) {
    const p = m.path;
    checks.push((_req, path) => path === p);
  }
  if (m.pathPrefix !== undefined) {
    const p = m.pathPrefix;
    checks.push((_req, path) => path.startsWith(p));
  }
  if (m.pathRegex !== undefined) {
    const re = new RegExp(`^(?:${m.pathRegex})$`);
    checks.push((_req, path) => re.test(path));
  }
  if (m.methods !== undefined) {
    const methods = new Set(m.methods);
    checks.push((req) => methods.has(req.method ?? ""));
  }
  for (const [name, sm] of Object.entries(m.headers ?? {})) {
    const lower = name.toLowerCase();
    const test = stringMatcher(sm);
    checks.push((req) => {
      const v = req.headers[lower];
      return test(Array.isArray(v) ? v.join(",") : v);
    });
  }
  if (checks.length === 0) return () => true;
  return (req, path) => {
    for (const c of checks) if (!c(req, path)) return false;
    return true;
  };
}

/** The Host header without port, lower-cased: the key of the route table. */
export function hostOf(host: string | undefined): string {
  if (host === undefined) return "";
  const colon = host.lastIndexOf(":");
  const bare = colon > 0 && !host.endsWith("]") ? host.slice(0, colon) : host;
  return bare.toLowerCase();
}

/** The path of a request target, without the query; absolute-form targets (HTTP_PROXY use) are reduced to their path. */
export function pathOf(url: string): string {
  let start = 0;
  if (url.charCodeAt(0) !== 47) {
    const scheme = url.indexOf("://");
    if (scheme >= 0) {
      const slash = url.indexOf("/", scheme + 3);
      if (slash < 0) return "/";
      start = slash;
    }
  }
  const q = url.indexOf("?", start);
  return q < 0 ? url.slice(start) : url.slice(start, q);
}

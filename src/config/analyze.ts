import { compareStrings } from "../common/compare.ts";
import { type Finding, sortFindings } from "./finding.ts";
import { checkMesh, type MeshCheckOptions } from "./mesh-check.ts";
import type { Resource, Route, RouteMatch, StringMatch } from "./resources.ts";

/** The labels of each endpoint of each service (static and registered); a service absent here has none. */
export type EndpointLabels = ReadonlyMap<string, readonly Readonly<Record<string, string>>[]>;

export interface AnalyzeOptions extends MeshCheckOptions {
  /** Undefined when not known (files analyzed alone): the endpoint findings are skipped. */
  endpoints?: EndpointLabels;
}

/**
 * `meshlet analyze`: the shared check (what sidecars refuse, and its
 * warnings) plus what only an analysis of the whole set finds, as `istioctl
 * analyze` does: rules that can never match, and policies or subsets that
 * have no endpoint to act on.
 */
export function analyzeMesh(resources: readonly Resource[], options: AnalyzeOptions = {}): Finding[] {
  const findings = [...checkMesh(resources, options), ...shadowedRules(resources)];
  if (options.endpoints !== undefined) findings.push(...endpointFindings(resources, options.endpoints));
  return sortFindings(findings);
}

// --- Rules that can never match ------------------------------------------------

interface PlacedRule {
  route: string;
  index: number;
  /** No match = every request (`[{}]`). */
  matches: readonly RouteMatch[];
}

/**
 * A rule is unreachable when every one of its matches is covered by a match
 * of an earlier rule for the same host: the sidecar tries rules in order
 * (Routes sharing a host in the order of their names) and the first match
 * wins. Coverage is judged conservatively: only what is certain is reported.
 */
export function shadowedRules(resources: readonly Resource[]): Finding[] {
  const routes = resources
    .filter((r): r is Route => r.kind === "Route")
    .sort((a, b) => compareStrings(a.metadata.name, b.metadata.name));
  const byHost = new Map<string, PlacedRule[]>();
  for (const route of routes) {
    for (const host of new Set(route.spec.hosts.map((h) => h.toLowerCase()))) {
      const list = byHost.get(host) ?? [];
      route.spec.http.forEach((rule, index) => {
        list.push({ route: route.metadata.name, index, matches: rule.match.length === 0 ? [{}] : rule.match });
      });
      byHost.set(host, list);
    }
  }
  const findings = new Map<string, Finding>();
  for (const [host, rules] of byHost) {
    rules.forEach((rule, i) => {
      const earlier = rules.slice(0, i);
      const by = rule.matches.map((m) => earlier.find((e) => e.matches.some((em) => covers(em, m))));
      if (by.some((b) => b === undefined)) return;
      const first = by[0] as PlacedRule;
      const key = `${rule.route}#${rule.index}`;
      if (findings.has(key)) return;
      findings.set(key, {
        code: "ShadowedRule",
        severity: "warning",
        resource: `Route/${rule.route}`,
        path: `spec.http[${rule.index}]`,
        message: `never matches for host "${host}": Route/${first.route} spec.http[${first.index}], tried earlier, takes every request it would`,
        ...(first.route === rule.route ? {} : { related: [`Route/${first.route}`] }),
      });
    });
  }
  return [...findings.values()];
}

/** Every request `b` matches, `a` matches too. */
export function covers(a: RouteMatch, b: RouteMatch): boolean {
  return coversPath(a, b) && coversMethods(a.methods, b.methods) && coversHeaders(a.headers, b.headers);
}

function coversPath(a: RouteMatch, b: RouteMatch): boolean {
  if (a.path === undefined && a.pathPrefix === undefined && a.pathRegex === undefined) return true;
  if (a.path !== undefined) return b.path === a.path;
  if (a.pathPrefix !== undefined) {
    const p = a.pathPrefix;
    return b.path?.startsWith(p) === true || b.pathPrefix?.startsWith(p) === true;
  }
  return b.pathRegex === a.pathRegex;
}

function coversMethods(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined) return true;
  return b?.every((m) => a.includes(m)) === true;
}

function coversHeaders(
  a: Readonly<Record<string, StringMatch>> | undefined,
  b: Readonly<Record<string, StringMatch>> | undefined,
): boolean {
  const bLower = new Map(Object.entries(b ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  return Object.entries(a ?? {}).every(([name, am]) => {
    const bm = bLower.get(name.toLowerCase());
    return bm !== undefined && coversValue(am, bm);
  });
}

/** Every header value `b` accepts, `a` accepts. */
function coversValue(a: StringMatch, b: StringMatch): boolean {
  const exact = (m: StringMatch) => (typeof m === "string" ? m : "exact" in m ? m.exact : undefined);
  const ae = exact(a);
  const be = exact(b);
  if (ae !== undefined) return be === ae;
  if (typeof a !== "string" && "prefix" in a) {
    if (be !== undefined) return be.startsWith(a.prefix);
    return typeof b !== "string" && "prefix" in b && b.prefix.startsWith(a.prefix);
  }
  if (typeof a !== "string" && "regex" in a) return typeof b !== "string" && "regex" in b && b.regex === a.regex;
  if (typeof a !== "string" && "present" in a) {
    if (!a.present) return typeof b !== "string" && "present" in b && !b.present;
    // Any value constraint implies the header is there.
    return !(typeof b !== "string" && "present" in b && !b.present);
  }
  return false;
}

// --- Nothing to act on ----------------------------------------------------------

function endpointFindings(resources: readonly Resource[], endpoints: EndpointLabels): Finding[] {
  const services = new Set(resources.filter((r) => r.kind === "Service").map((r) => r.metadata.name));
  const findings: Finding[] = [];
  for (const r of resources) {
    if (r.kind === "Policy") {
      const t = r.spec.target;
      if ("service" in t && services.has(t.service) && (endpoints.get(t.service)?.length ?? 0) === 0) {
        findings.push({
          code: "NoEndpoints",
          severity: "warning",
          resource: `Policy/${r.metadata.name}`,
          path: "spec.target.service",
          message: `Service "${t.service}" has no endpoints (none registered, none static): the policy protects nothing yet`,
        });
      }
    }
    if (r.kind !== "Route") continue;
    r.spec.http.forEach((rule, i) => {
      rule.destinations.forEach((d, j) => {
        if (!services.has(d.service) || d.weight === 0) return;
        const list = endpoints.get(d.service) ?? [];
        const path = `spec.http[${i}].destinations[${j}]`;
        if (list.length === 0) {
          findings.push({
            code: "DestinationNoEndpoints",
            severity: "info",
            resource: `Route/${r.metadata.name}`,
            path: `${path}.service`,
            message: `Service "${d.service}" has no endpoints: its share of requests is answered 503 UH`,
          });
          return;
        }
        const subset = d.subset;
        if (subset === undefined) return;
        if (list.some((labels) => Object.entries(subset).every(([k, v]) => labels[k] === v))) return;
        findings.push({
          code: "SubsetNoEndpoints",
          severity: "warning",
          resource: `Route/${r.metadata.name}`,
          path: `${path}.subset`,
          message: `no endpoint of Service "${d.service}" has the labels ${Object.entries(subset)
            .map(([k, v]) => `${k}=${v}`)
            .join(",")}: its share of requests is answered 503 UH`,
        });
      });
    });
  }
  return findings;
}

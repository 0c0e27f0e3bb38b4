/** `meshlet proxy-config`, loaded when it runs: the sidecar's admin views (/config_dump, /endpoints) as tables. */

import { compareStrings } from "../../common/compare.ts";
import { type Finding, formatFinding } from "../../config/finding.ts";
import type { Policy, Resource, Route, RouteMatch, StringMatch } from "../../config/resources.ts";
import { callApi } from "../../controlplane/http/client.ts";
import { type OutputFormat, renderTable, structured } from "../output.ts";

export type Section = "routes" | "clusters" | "endpoints" | "policies";

/** GET /config_dump of the sidecar admin API. */
export interface ConfigDump {
  version: string;
  source: string;
  stale: boolean;
  resources: Resource[];
  rejected?: Finding[];
  warnings?: Finding[];
}

/** GET /endpoints of the sidecar admin API. */
export interface EndpointsDump {
  version: string;
  services: Record<
    string,
    {
      loadBalancer: string;
      endpoints: {
        address: string;
        port: number;
        weight: number;
        labels: Record<string, string>;
        active: number;
        healthy: boolean;
        /** With outlier detection: whether it is ejected now. */
        outlier?: { ejected: boolean };
      }[];
    }
  >;
  breakers: { target: string; state: number }[];
}

export interface RouteRow {
  host: string;
  route: string;
  match: string;
  destinations: string;
  timeout: string;
  retries: string;
}
export interface ClusterRow {
  service: string;
  loadBalancer: string;
  endpoints: number;
  healthy: number;
  policy: string;
  breaker: string;
}
export interface EndpointRow {
  service: string;
  address: string;
  weight: number;
  labels: string;
  healthy: boolean;
  ejected: boolean;
  active: number;
}
export interface PolicyRow {
  policy: string;
  target: string;
  features: string;
  breaker: string;
}

interface Views {
  routes: RouteRow[];
  clusters: ClusterRow[];
  endpoints: EndpointRow[];
  policies: PolicyRow[];
}

const BREAKER = ["closed", "half-open", "open"];

export async function proxyConfig(admin: string, section: Section | undefined, flags: { output?: OutputFormat }) {
  const base = /^[a-z][a-z0-9+.-]*:\/\//i.test(admin) ? admin : `http://${admin}`;
  const get = async <T>(path: string): Promise<T> =>
    JSON.parse(
      (await callApi(base, "GET", path, { peer: "the sidecar admin API", timeoutMs: 5_000 })).body.toString("utf8"),
    ) as T;
  const [dump, endpoints] = await Promise.all([get<ConfigDump>("/config_dump"), get<EndpointsDump>("/endpoints")]);
  const views: Views = {
    routes: routesView(dump.resources),
    clusters: clustersView(dump.resources, endpoints),
    endpoints: endpointsView(endpoints),
    policies: policiesView(dump.resources, endpoints),
  };
  const chosen: Partial<Views> = section === undefined ? views : { [section]: views[section] };
  const out = await structured(
    flags.output,
    section === undefined
      ? { version: dump.version, source: dump.source, stale: dump.stale, rejected: dump.rejected ?? [], ...views }
      : views[section],
  );
  if (out !== undefined) {
    process.stdout.write(out);
    return;
  }
  if (flags.output === "name") {
    process.stdout.write(
      namesOf(chosen)
        .map((n) => `${n}\n`)
        .join(""),
    );
    return;
  }
  const wide = flags.output === "wide";
  let text = "";
  if (section === undefined) {
    text += `version ${dump.version} from ${dump.source}${dump.stale ? " (stale)" : ""}\n`;
    for (const f of dump.rejected ?? []) text += `rejected: ${formatFinding(f)}\n`;
    text += "\n";
  }
  const blocks: string[] = [];
  if (chosen.routes !== undefined)
    blocks.push(
      table(
        ["HOST", "ROUTE", "MATCH", "DESTINATIONS", ...(wide ? ["TIMEOUT", "RETRIES"] : [])],
        chosen.routes.map((r) => [r.host, r.route, r.match, r.destinations, ...(wide ? [r.timeout, r.retries] : [])]),
      ),
    );
  if (chosen.clusters !== undefined)
    blocks.push(
      table(
        ["SERVICE", "ENDPOINTS", "HEALTHY", "POLICY", "BREAKER", ...(wide ? ["BALANCER"] : [])],
        chosen.clusters.map((c) => [
          c.service,
          String(c.endpoints),
          String(c.healthy),
          c.policy,
          c.breaker,
          ...(wide ? [c.loadBalancer] : []),
        ]),
      ),
    );
  if (chosen.endpoints !== undefined)
    blocks.push(
      table(
        ["SERVICE", "ADDRESS", "HEALTHY", "EJECTED", ...(wide ? ["WEIGHT", "ACTIVE", "LABELS"] : [])],
        chosen.endpoints.map((e) => [
          e.service,
          e.address,
          String(e.healthy),
          String(e.ejected),
          ...(wide ? [String(e.weight), String(e.active), e.labels] : []),
        ]),
      ),
    );
  if (chosen.policies !== undefined)
    blocks.push(
      table(
        ["POLICY", "TARGET", "BREAKER", ...(wide ? ["FEATURES"] : [])],
        chosen.policies.map((p) => [p.policy, p.target, p.breaker, ...(wide ? [p.features] : [])]),
      ),
    );
  process.stdout.write(text + blocks.join("\n"));
}

function table(header: string[], rows: string[][]): string {
  return rows.length === 0 ? `${header.join("   ")}\n(none)\n` : renderTable(header, rows);
}

function namesOf(views: Partial<Views>): string[] {
  return [
    ...[...new Set((views.routes ?? []).map((r) => `route/${r.route}`))],
    ...(views.clusters ?? []).map((c) => `service/${c.service}`),
    ...(views.endpoints ?? []).map((e) => `endpoint/${e.service}/${e.address}`),
    ...(views.policies ?? []).map((p) => `policy/${p.policy}`),
  ];
}

/** Host by host, rules in the order the sidecar tries them (Routes sharing a host by name; a Service without a Route by its own name). */
export function routesView(resources: readonly Resource[]): RouteRow[] {
  const routes = resources
    .filter((r): r is Route => r.kind === "Route")
    .sort((a, b) => compareStrings(a.metadata.name, b.metadata.name));
  const rows: RouteRow[] = [];
  const hosts = new Set<string>();
  for (const route of routes) for (const h of route.spec.hosts) hosts.add(h.toLowerCase());
  for (const host of [...hosts].sort(compareStrings)) {
    for (const route of routes) {
      if (!route.spec.hosts.some((h) => h.toLowerCase() === host)) continue;
      route.spec.http.forEach((rule, i) => {
        rows.push({
          host,
          route: rule.name === undefined ? `${route.metadata.name}#${i}` : `${route.metadata.name}/${rule.name}`,
          match: rule.match.length === 0 ? "*" : rule.match.map(describeMatch).join(" | "),
          destinations: rule.destinations
            .map((d) => {
              const subset =
                d.subset === undefined
                  ? ""
                  : `[${Object.entries(d.subset)
                      .map(([k, v]) => `${k}=${v}`)
                      .join(",")}]`;
              return `${d.service}${subset}${rule.destinations.length > 1 ? ` ${d.weight}` : ""}`;
            })
            .join(", "),
          timeout: rule.timeout,
          retries: rule.retries === undefined ? "-" : `${rule.retries.attempts} on ${rule.retries.retryOn.join(",")}`,
        });
      });
    }
  }
  for (const r of resources) {
    if (r.kind !== "Service" || hosts.has(r.metadata.name)) continue;
    rows.push({
      host: r.metadata.name,
      route: `service/${r.metadata.name}`,
      match: "*",
      destinations: r.metadata.name,
      timeout: "15s",
      retries: "-",
    });
  }
  return rows;
}

function describeMatch(m: RouteMatch): string {
  const parts: string[] = [];
  if (m.path !== undefined) parts.push(`path=${m.path}`);
  if (m.pathPrefix !== undefined) parts.push(`prefix=${m.pathPrefix}`);
  if (m.pathRegex !== undefined) parts.push(`regex=${m.pathRegex}`);
  if (m.methods !== undefined) parts.push(`methods=${m.methods.join(",")}`);
  for (const [name, sm] of Object.entries(m.headers ?? {})) parts.push(`${name}${describeString(sm)}`);
  return parts.length === 0 ? "*" : parts.join(" ");
}

function describeString(m: StringMatch): string {
  if (typeof m === "string") return `=${m}`;
  if ("exact" in m) return `=${m.exact}`;
  if ("prefix" in m) return `^=${m.prefix}`;
  if ("regex" in m) return `~=${m.regex}`;
  return m.present ? " present" : " absent";
}

function breakerOf(dump: EndpointsDump, target: string): string {
  const b = dump.breakers.find((x) => x.target === target);
  return b === undefined ? "-" : (BREAKER[b.state] ?? String(b.state));
}

export function clustersView(resources: readonly Resource[], dump: EndpointsDump): ClusterRow[] {
  const policyOf = new Map<string, string>();
  for (const r of resources)
    if (r.kind === "Policy" && "service" in r.spec.target) policyOf.set(r.spec.target.service, r.metadata.name);
  return Object.entries(dump.services)
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([service, s]) => ({
      service,
      loadBalancer: s.loadBalancer,
      endpoints: s.endpoints.length,
      healthy: s.endpoints.filter((e) => e.healthy && e.outlier?.ejected !== true).length,
      policy: policyOf.get(service) ?? "-",
      breaker: breakerOf(dump, `service/${service}`),
    }));
}

export function endpointsView(dump: EndpointsDump): EndpointRow[] {
  return Object.entries(dump.services)
    .sort(([a], [b]) => compareStrings(a, b))
    .flatMap(([service, s]) =>
      s.endpoints.map((e) => ({
        service,
        address: `${e.address}:${e.port}`,
        weight: e.weight,
        labels:
          Object.entries(e.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(",") || "-",
        healthy: e.healthy,
        ejected: e.outlier?.ejected === true,
        active: e.active,
      })),
    );
}

export function policiesView(resources: readonly Resource[], dump: EndpointsDump): PolicyRow[] {
  const features = ["circuitBreaker", "limits", "rateLimit", "fallback", "outlierDetection", "healthCheck"];
  return resources
    .filter((r): r is Policy => r.kind === "Policy")
    .sort((a, b) => compareStrings(a.metadata.name, b.metadata.name))
    .map((p) => {
      const t = p.spec.target;
      const target = "service" in t ? `service/${t.service}` : `route/${t.route}`;
      return {
        policy: p.metadata.name,
        target,
        features: features.filter((f) => f in p.spec).join(",") || "-",
        breaker: breakerOf(dump, target),
      };
    });
}

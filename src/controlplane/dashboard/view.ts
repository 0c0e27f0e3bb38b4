import { compareStrings } from "../../common/compare.ts";
import { declares } from "../../config/config-key.ts";
import type { ConfigRelease, Policy, Resource, Route, Service } from "../../config/resources.ts";
import { BREAKER_STATES, sidecarReportSchema } from "../../config/sidecar-report.ts";
import { describeSelector, selects } from "../config/selection.ts";
import type { ClusterSidecars } from "../discovery/attach.ts";
import type { TrafficWindow } from "../discovery/load-reports.ts";
import type { RegisteredEndpoint } from "../registry/commands.ts";
import { acknowledged, type SidecarView } from "../resources/api-types.ts";
import { aggregate, type TrafficStats } from "./traffic-stats.ts";

/** Everything the dashboard page shows, built by the node serving it; the page only lays it out. */
export interface DashboardView {
  /** The node that built this view. */
  node: string;
  revision: number;
  cluster: {
    clusterId: string;
    leader: string;
    term: number;
    commitIndex: number;
    appliedIndex: number;
    health: "healthy" | "degraded" | "no leader";
    members: {
      id: string;
      address: string;
      role: "voter" | "learner";
      leader: boolean;
      /** "unknown": not asked yet, or gathering was not possible. */
      state: "up" | "unreachable" | "unknown";
      term: number | null;
      appliedIndex: number | null;
    }[];
  };
  services: ServiceView[];
  routes: { name: string; hosts: string[]; rules: { name: string; match: string; destinations: string }[] }[];
  policies: { name: string; target: string; features: string[] }[];
  sidecars: {
    id: string;
    service: string;
    instance: string;
    node: string;
    ackedVersion: number;
    pushedVersion: number;
    /** in sync: ACKed what it was sent; pending: an ACK is due; rejected: NACKed the last one. */
    state: "in sync" | "pending" | "rejected";
    nack: { version: number; error: string } | null;
    /** Breakers not closed, as `target: state`. */
    breakers: string[];
    rps: number;
  }[];
  /** Gray releases of app config, and which connected instance gets which value. */
  releases: ReleaseView[];
  /** Nodes whose sidecars are missing from the lists (they did not answer). */
  unreachable: string[];
}

export interface ReleaseView {
  name: string;
  key: string;
  selector: string;
  /** The connected instances of the Services that declare the key. */
  instances: {
    instance: string;
    service: string;
    /** "release": its selector picks the instance; "base": the key's base value. */
    value: "release" | "base";
    /** It acknowledged the last config update it was sent (so it has that value). */
    acked: boolean;
  }[];
}

export interface ServiceView {
  name: string;
  /** False for a service known only from its sidecars (no Service resource applied). */
  declared: boolean;
  loadBalancer: string;
  endpoints: {
    instance: string;
    address: string;
    labels: Record<string, string>;
    source: "registered" | "static";
    state: "healthy" | "ejected" | "unhealthy";
    /** How many callers' sidecars took it out of rotation. */
    outOf: number;
  }[];
  /** What its own sidecars served. */
  inbound: TrafficStats;
  /** What the callers' sidecars saw (fallbacks and breaker answers included). */
  outbound: TrafficStats;
  /** Callers' breakers for this service by state: closed, half-open, open. */
  breakers: { closed: number; "half-open": number; open: number };
}

export interface ViewInput {
  nodeId: string;
  clusterId: string;
  leader: string;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  members: readonly { id: string; address: string; role: "voter" | "learner" }[];
  revision: number;
  resources: readonly Resource[];
  endpoints: readonly RegisteredEndpoint[];
  cluster: ClusterSidecars | undefined;
}

export function buildView(input: ViewInput): DashboardView {
  const services = input.resources.filter((r): r is Service => r.kind === "Service");
  const routes = input.resources.filter((r): r is Route => r.kind === "Route");
  const policies = input.resources.filter((r): r is Policy => r.kind === "Policy");
  const sidecars = input.cluster?.sidecars ?? [];
  const windows = sidecars.map((s) => s.traffic).filter((w): w is TrafficWindow => w !== null);
  const reports = sidecars.map((s) => ({ sidecar: s, report: sidecarReportSchema.safeParse(s.status).data }));

  const outOfRotation = new Map<string, { state: "ejected" | "unhealthy"; count: number }>();
  for (const { report } of reports) {
    for (const e of report?.endpoints ?? []) {
      const key = `${e.service}|${e.endpoint}`;
      const seen = outOfRotation.get(key);
      outOfRotation.set(key, { state: seen?.state ?? e.state, count: (seen?.count ?? 0) + 1 });
    }
  }
  const names = new Set([
    ...services.map((s) => s.metadata.name),
    ...input.endpoints.map((e) => e.service),
    ...sidecars.map((s) => s.service),
  ]);
  const serviceViews = [...names].sort(compareStrings).map((name): ServiceView => {
    const resource = services.find((s) => s.metadata.name === name);
    const endpoints = [
      ...input.endpoints
        .filter((e) => e.service === name)
        .map((e) => ({
          instance: e.instance,
          address: `${e.address}:${e.port}`,
          labels: e.labels,
          source: "registered" as const,
        })),
      ...(resource?.spec.endpoints ?? []).map((e, i) => ({
        instance: `static-${i}`,
        address: `${e.address}:${e.port}`,
        labels: e.labels ?? {},
        source: "static" as const,
      })),
    ].map((e) => {
      const out = outOfRotation.get(`${name}|${e.address}`);
      return { ...e, state: out?.state ?? ("healthy" as const), outOf: out?.count ?? 0 };
    });
    // Every sidecar builds the breakers of every policy; only those of sidecars that called the service count.
    const breakers = { closed: 0, "half-open": 0, open: 0 };
    for (const { report } of reports) {
      const calls = report?.traffic.series.some((s) => s.direction === "outbound" && s.service === name) ?? false;
      for (const b of report?.breakers ?? []) {
        if (b.target === `service/${name}` && (calls || b.state !== 0)) breakers[BREAKER_STATES[b.state] ?? "closed"]++;
      }
    }
    return {
      name,
      declared: resource !== undefined,
      loadBalancer: resource === undefined ? "" : describeBalancer(resource),
      endpoints,
      inbound: aggregate(windows, (s) => s.direction === "inbound" && s.service === name),
      outbound: aggregate(windows, (s) => s.direction === "outbound" && s.service === name),
      breakers,
    };
  });

  return {
    node: input.nodeId,
    revision: input.revision,
    cluster: clusterView(input),
    services: serviceViews,
    routes: routes.map((r) => ({
      name: r.metadata.name,
      hosts: r.spec.hosts,
      rules: r.spec.http.map((h, i) => ({
        name: h.name ?? `#${i}`,
        match: h.match.length === 0 ? "any request" : h.match.map(describeMatch).join(" or "),
        destinations: describeDestinations(h.destinations),
      })),
    })),
    policies: policies.map((p) => ({
      name: p.metadata.name,
      target: "service" in p.spec.target ? `service ${p.spec.target.service}` : `route ${p.spec.target.route}`,
      features: describePolicy(p),
    })),
    sidecars: sidecars.map((s) => sidecarRow(s, reports.find((r) => r.sidecar === s)?.report)),
    releases: releaseViews(input, services, sidecars),
    unreachable: input.cluster?.unreachable ?? [],
  };
}

/** Who gets a release's value: its selector applied to each connected instance, labels from its registration. */
function releaseViews(input: ViewInput, services: readonly Service[], sidecars: readonly SidecarView[]): ReleaseView[] {
  const labels = new Map(input.endpoints.map((e) => [`${e.service}/${e.instance}`, e.labels]));
  return input.resources
    .filter((r): r is ConfigRelease => r.kind === "ConfigRelease")
    .map((r) => {
      const { key, selector } = r.spec;
      const declaring = new Set(
        services.filter((s) => s.spec.config !== undefined && declares(s.spec.config, key)).map((s) => s.metadata.name),
      );
      return {
        name: r.metadata.name,
        key,
        selector: describeSelector(selector),
        instances: sidecars
          .filter((s) => declaring.has(s.service))
          .map((s) => ({
            instance: s.instance,
            service: s.service,
            value: selects(selector, key, {
              instance: s.instance,
              labels: labels.get(`${s.service}/${s.instance}`) ?? {},
            })
              ? ("release" as const)
              : ("base" as const),
            acked: acknowledged(s),
          }))
          .sort((a, b) => compareStrings(a.instance, b.instance)),
      };
    });
}

function clusterView(input: ViewInput): DashboardView["cluster"] {
  const answered = new Map((input.cluster?.nodes ?? []).map((n) => [n.id, n]));
  const unreachable = new Set(input.cluster?.unreachable ?? []);
  const members = input.members.map((m) => {
    const seen = answered.get(m.id);
    const state: "up" | "unreachable" | "unknown" =
      m.id === input.nodeId || seen !== undefined ? "up" : unreachable.has(m.id) ? "unreachable" : "unknown";
    return {
      id: m.id,
      address: m.address,
      role: m.role,
      leader: m.id === input.leader,
      state,
      term: m.id === input.nodeId ? input.term : (seen?.term ?? null),
      appliedIndex: m.id === input.nodeId ? input.appliedIndex : (seen?.appliedIndex ?? null),
    };
  });
  const health = input.leader === "" ? "no leader" : members.every((m) => m.state === "up") ? "healthy" : "degraded";
  return {
    clusterId: input.clusterId,
    leader: input.leader,
    term: input.term,
    commitIndex: input.commitIndex,
    appliedIndex: input.appliedIndex,
    health,
    members,
  };
}

function sidecarRow(
  s: SidecarView,
  report: ReturnType<typeof sidecarReportSchema.safeParse>["data"],
): DashboardView["sidecars"][number] {
  const rejected = s.lastNack !== null && s.lastNack.version >= s.lastAckedVersion;
  const state = rejected ? "rejected" : s.lastAckedVersion >= s.lastPushedVersion ? "in sync" : "pending";
  const rps =
    s.traffic === null
      ? 0
      : s.traffic.series.reduce((sum, x) => sum + (x.direction === "inbound" ? x.requests : 0), 0) /
        (s.traffic.windowMs / 1000);
  return {
    id: s.id,
    service: s.service,
    instance: s.instance,
    node: s.node,
    ackedVersion: s.lastAckedVersion,
    pushedVersion: s.lastPushedVersion,
    state,
    nack: s.lastNack,
    breakers: (report?.breakers ?? [])
      .filter((b) => b.state !== 0)
      .map((b) => `${b.target}: ${BREAKER_STATES[b.state] ?? b.state}`),
    rps,
  };
}

function describeBalancer(s: Service): string {
  const lb = s.spec.loadBalancer;
  if ("roundRobin" in lb) return "round robin";
  if ("leastRequest" in lb) return "least request";
  const h = lb.consistentHash;
  const key =
    h.header !== undefined
      ? `header ${h.header}`
      : h.cookie !== undefined
        ? `cookie ${h.cookie.name}`
        : h.queryParameter !== undefined
          ? `query ${h.queryParameter}`
          : "source IP";
  return `${h.algorithm} hash on ${key}`;
}

function describeMatch(m: Route["spec"]["http"][number]["match"][number]): string {
  const parts: string[] = [];
  if (m.path !== undefined) parts.push(`path ${m.path}`);
  if (m.pathPrefix !== undefined) parts.push(`path ${m.pathPrefix}*`);
  if (m.pathRegex !== undefined) parts.push(`path ~ ${m.pathRegex}`);
  if (m.methods !== undefined) parts.push(m.methods.join("|"));
  for (const [name, v] of Object.entries(m.headers ?? {})) {
    if (typeof v === "string") parts.push(`${name}: ${v}`);
    else if ("exact" in v) parts.push(`${name}: ${v.exact}`);
    else if ("prefix" in v) parts.push(`${name}: ${v.prefix}*`);
    else if ("regex" in v) parts.push(`${name} ~ ${v.regex}`);
    else parts.push(v.present ? `${name} present` : `no ${name}`);
  }
  return parts.length === 0 ? "any request" : parts.join(", ");
}

function describeDestinations(ds: Route["spec"]["http"][number]["destinations"]): string {
  const total = ds.reduce((sum, d) => sum + d.weight, 0);
  return ds
    .map((d) => {
      const subset = d.subset === undefined ? "" : ` ${Object.entries(d.subset).map(([k, v]) => `${k}=${v}`)}`;
      const share = total === 0 ? 0 : Math.round((d.weight * 100) / total);
      return ds.length === 1 ? `${d.service}${subset}` : `${d.service}${subset} ${share} %`;
    })
    .join(", ");
}

function describePolicy(p: Policy): string[] {
  const s = p.spec;
  const out: string[] = [];
  if (s.circuitBreaker !== undefined) {
    const b = s.circuitBreaker;
    out.push(
      `breaker: opens at ${b.errorThresholdPercentage} % errors of ≥ ${b.volumeThreshold} calls in ${b.rollingWindow}, retries after ${b.resetTimeout}`,
    );
  }
  if (s.rateLimit !== undefined) {
    const r = s.rateLimit;
    const key = r.key === undefined ? "" : "header" in r.key ? ` per ${r.key.header}` : " per source service";
    out.push(`rate limit: ${r.requestsPerSecond}/s${key} (${r.scope})`);
  }
  if (s.limits !== undefined)
    out.push(
      `limits: ${Object.entries(s.limits)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}`,
    );
  if (s.fallback !== undefined) {
    const f = s.fallback;
    const kind =
      f.static !== undefined
        ? `static ${f.static.status}`
        : f.service !== undefined
          ? `service ${f.service}`
          : "stale cache";
    out.push(`fallback: ${kind} on ${f.on.join(", ")}`);
  }
  if (s.outlierDetection !== undefined)
    out.push(
      `outlier detection: eject after ${s.outlierDetection.consecutiveErrors} errors for ${s.outlierDetection.baseEjectionTime}`,
    );
  if (s.healthCheck !== undefined) out.push(`health check: ${s.healthCheck.path} every ${s.healthCheck.interval}`);
  return out;
}

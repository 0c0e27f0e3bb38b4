import { compareStrings } from "../common/compare.ts";
import { durationMs } from "../config/duration.ts";
import type { Finding } from "../config/finding.ts";
import type { HttpRoute, Policy, Resource, RetryOn, Route, Service } from "../config/resources.ts";
import { type CompiledRouteFault, compileRouteFault } from "./faults/plan.ts";
import type { RequestView } from "./request-view.ts";
import type { CompiledPolicy, PolicyCompiler, PolicySet } from "./resilience/compile.ts";
import { compileMatch, type RequestMatcher } from "./routing.ts";
import { type Balancer, buildBalancer, toUpstream, type UpstreamEndpoint } from "./upstream/balancer.ts";
import { type HashKeyOf, hashKeyOf } from "./upstream/hash-key.ts";

/** One weighted destination of a route, fully resolved for the snapshot. */
export interface Destination {
  readonly service: string;
  readonly balancer: Balancer;
  /** The policy that governs this destination (route policy wins over service policy). */
  readonly policy: CompiledPolicy | undefined;
  /** False for an endpoint key ejected by outlier detection or failed by a health check. */
  readonly usable: ((key: string) => boolean) | undefined;
  /** The Service's port says `http2` or `grpc`: requests go as HTTP/2 streams on pooled sessions (docs/grpc.md). */
  readonly h2?: boolean;
}

/** A versioned set of resources from a config source (static file now, discovery stream later). */
export interface ConfigSnapshot {
  version: string;
  /** `file:<path>`, `cache:<path>` or `control:<addr>`. */
  source: string;
  resources: Resource[];
  /** Resources the source already refused (it could not read them); the sidecar keeps their last good version. */
  rejected?: Finding[];
}

export interface RetryPlan {
  readonly attempts: number;
  readonly on: ReadonlySet<RetryOn>;
  readonly perTryTimeoutMs: number | undefined;
  readonly nonIdempotent: boolean;
  /** Retry any method, and copy a streamed body (up to 64 KiB) so a sent call can go again. */
  readonly idempotent: boolean;
  readonly baseMs: number;
  readonly maxMs: number;
}

export interface CompiledHttpRoute {
  /** `Route/<name>` or `Route/<name>#<index>`; the Route resource's name is the policy `{route: NAME}` target. */
  readonly name: string;
  readonly matchers: readonly RequestMatcher[];
  readonly destinations: readonly Destination[];
  /** Cumulative weights, parallel to destinations. */
  readonly cumulative: Uint32Array;
  readonly totalWeight: number;
  readonly timeoutMs: number;
  readonly retry: RetryPlan | undefined;
  readonly hashKey: HashKeyOf | undefined;
  /** A match block of the route lists TRACE in its methods: only then is TRACE forwarded (else 405). */
  readonly allowsTrace: boolean;
  /** The rule's injected faults (stages/fault.ts). */
  readonly fault?: CompiledRouteFault | undefined;
}

export interface CompiledService {
  readonly name: string;
  readonly endpoints: readonly UpstreamEndpoint[];
  readonly balancerKind: string;
}

/** Everything the data path needs, built once per snapshot and swapped atomically. */
export interface CompiledSnapshot {
  readonly version: string;
  readonly source: string;
  readonly resources: readonly Resource[];
  readonly routesByHost: ReadonlyMap<string, readonly CompiledHttpRoute[]>;
  readonly services: ReadonlyMap<string, CompiledService>;
  readonly policies: PolicySet | undefined;
}

/** A Service a Route names but the snapshot lacks (a dangling reference): no endpoints. */
interface Missing {
  metadata: { name: string };
  spec: { loadBalancer: Service["spec"]["loadBalancer"]; ports?: undefined };
}

function missing(name: string): Missing {
  return { metadata: { name }, spec: { loadBalancer: { roundRobin: {} } } };
}

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_BACKOFF_MS = 25;

function subsetKey(subset: Readonly<Record<string, string>> | undefined): string {
  if (subset === undefined) return "";
  return Object.keys(subset)
    .sort()
    .map((k) => `${k}=${subset[k]}`)
    .join(",");
}

function inSubset(e: UpstreamEndpoint, subset: Readonly<Record<string, string>> | undefined): boolean {
  if (subset === undefined) return true;
  for (const [k, v] of Object.entries(subset)) if (e.labels[k] !== v) return false;
  return true;
}

function retryPlan(r: HttpRoute["retries"]): RetryPlan | undefined {
  if (r === undefined || r.attempts === 0) return undefined;
  const baseMs = r.backoff === undefined ? DEFAULT_BACKOFF_MS : durationMs(r.backoff.baseInterval);
  const maxMs = r.backoff?.maxInterval === undefined ? baseMs * 10 : durationMs(r.backoff.maxInterval);
  return {
    attempts: r.attempts,
    on: new Set(r.retryOn),
    perTryTimeoutMs: r.perTryTimeout === undefined ? undefined : durationMs(r.perTryTimeout),
    nonIdempotent: r.retryNonIdempotent,
    idempotent: r.idempotent,
    baseMs,
    maxMs,
  };
}

/**
 * Compiles a snapshot the shared check has admitted (admit.ts): route
 * matchers, weighted splits, one balancer per (service, subset), policies
 * resolved per destination. A destination whose Service does not exist gets
 * no endpoints, so its share of requests is answered 503 UH while the rest of
 * the mesh runs. Throws the policy compiler's PolicyRejectedError and leaves
 * the running config untouched.
 */
export function compileSnapshot(
  snapshot: ConfigSnapshot,
  policyCompiler: PolicyCompiler | undefined,
): CompiledSnapshot {
  const services = new Map<string, Service>();
  const routes: Route[] = [];
  const policies: Policy[] = [];
  for (const r of snapshot.resources) {
    if (r.kind === "Service") services.set(r.metadata.name, r);
    else if (r.kind === "Route") routes.push(r);
    else if (r.kind === "Policy") policies.push(r);
    // A ConfigRelease is never in a snapshot (the control plane keeps it; a static file refuses it).
  }
  // Rules of Routes sharing a host are tried in the order of the Routes' names, whatever the source's order.
  routes.sort((a, b) => compareStrings(a.metadata.name, b.metadata.name));
  const policySet = policyCompiler?.compile(policies);

  const compiledServices = new Map<string, CompiledService>();
  const endpointsOf = new Map<string, UpstreamEndpoint[]>();
  for (const [name, s] of services) {
    const eps = s.spec.endpoints.map(toUpstream);
    endpointsOf.set(name, eps);
    compiledServices.set(name, { name, endpoints: eps, balancerKind: Object.keys(s.spec.loadBalancer)[0] ?? "" });
    const policy = policySet?.forService(name);
    policy?.outlier?.setEndpoints(eps.map((e) => e.key));
    policy?.healthCheck?.setTargets(eps.map((e) => ({ key: e.key, host: e.address, port: e.port })));
  }

  const balancers = new Map<string, Balancer>();
  const balancerFor = (service: Service | Missing, subset: Record<string, string> | undefined): Balancer => {
    const key = `${service.metadata.name}|${subsetKey(subset)}`;
    let b = balancers.get(key);
    if (b === undefined) {
      const eps = (endpointsOf.get(service.metadata.name) ?? []).filter((e) => inSubset(e, subset));
      b = buildBalancer(service.spec.loadBalancer, eps);
      balancers.set(key, b);
    }
    return b;
  };

  const destination = (
    service: Service | Missing,
    subset: Record<string, string> | undefined,
    routeName: string | undefined,
    port?: number,
  ): Destination => {
    const policy = policySet?.resolve(service.metadata.name, routeName);
    const outlier = policy?.outlier;
    const health = policy?.healthCheck;
    let usable: ((key: string) => boolean) | undefined;
    if (outlier !== undefined && health !== undefined) usable = (k) => !outlier.isEjected(k) && health.isHealthy(k);
    else if (outlier !== undefined) usable = (k) => !outlier.isEjected(k);
    else if (health !== undefined) usable = (k) => health.isHealthy(k);
    const ports = service.spec.ports;
    const p = ports === undefined ? undefined : (ports.find((x) => x.port === port) ?? ports[0]);
    const h2 = p?.protocol === "http2" || p?.protocol === "grpc";
    return { service: service.metadata.name, balancer: balancerFor(service, subset), policy, usable, h2 };
  };

  const hashOf = (service: Service | Missing): HashKeyOf | undefined => {
    const lb = service.spec.loadBalancer;
    return "consistentHash" in lb ? hashKeyOf(lb.consistentHash) : undefined;
  };

  const routesByHost = new Map<string, CompiledHttpRoute[]>();
  for (const route of routes) {
    route.spec.http.forEach((h, index) => {
      const dests = h.destinations.filter((d) => d.weight > 0);
      const cumulative = new Uint32Array(dests.length);
      let total = 0;
      dests.forEach((d, i) => {
        total += d.weight;
        cumulative[i] = total;
      });
      const serviceOf = (name: string): Service | Missing => services.get(name) ?? missing(name);
      const first = serviceOf(dests[0]?.service ?? h.destinations[0]?.service ?? "");
      const compiled: CompiledHttpRoute = {
        name: h.name ?? `${route.metadata.name}#${index}`,
        matchers: h.match.map(compileMatch),
        destinations: dests.map((d) => destination(serviceOf(d.service), d.subset, route.metadata.name, d.port)),
        cumulative,
        totalWeight: total,
        timeoutMs: durationMs(h.timeout),
        retry: retryPlan(h.retries),
        hashKey: hashOf(first),
        allowsTrace: h.match.some((m) => m.methods?.includes("TRACE") === true),
        fault: h.fault === undefined ? undefined : compileRouteFault(h.fault),
      };
      for (const host of route.spec.hosts) {
        const key = host.toLowerCase();
        const list = routesByHost.get(key) ?? [];
        list.push(compiled);
        routesByHost.set(key, list);
      }
    });
  }
  // A Service without a Route is still reachable by its name, as with Kubernetes services.
  for (const [name, s] of services) {
    if (routesByHost.has(name)) continue;
    routesByHost.set(name, [
      {
        name: `service/${name}`,
        matchers: [],
        destinations: [destination(s, undefined, undefined)],
        cumulative: Uint32Array.of(1),
        totalWeight: 1,
        timeoutMs: DEFAULT_TIMEOUT_MS,
        retry: undefined,
        hashKey: hashOf(s),
        allowsTrace: false,
      },
    ]);
  }
  return {
    version: snapshot.version,
    source: snapshot.source,
    resources: snapshot.resources,
    routesByHost,
    services: compiledServices,
    policies: policySet,
  };
}

/** First matching route for the host; undefined means NR. */
export function matchRoute(
  snap: CompiledSnapshot,
  host: string,
  req: RequestView,
  path: string,
): CompiledHttpRoute | undefined {
  const list = snap.routesByHost.get(host);
  if (list === undefined) return undefined;
  for (const r of list) {
    if (r.matchers.length === 0) return r;
    for (const m of r.matchers) if (m(req, path)) return r;
  }
  return undefined;
}

/** Picks a destination by weight. */
export function splitDestination(
  route: CompiledHttpRoute,
  random: () => number = Math.random,
): Destination | undefined {
  const n = route.destinations.length;
  if (n <= 1) return route.destinations[0];
  const x = random() * route.totalWeight;
  for (let i = 0; i < n; i++) if (x < (route.cumulative[i] ?? 0)) return route.destinations[i];
  return route.destinations[n - 1];
}

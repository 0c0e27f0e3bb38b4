import type { Policy, Resource, Route } from "../../config/resources.ts";

/** Every service, route and policy name, when a sidecar subscribes to "*". */
export const ALL = "*";

export interface ScopeRequest {
  /** The sidecar's own service: it always gets it (inbound policy, its own endpoints). */
  service: string;
  /** Services its app calls; "*" = everything. */
  subscribe: readonly string[];
}

export interface Scope {
  services: Set<string>;
  routes: Set<string>;
  policies: Set<string>;
}

/** The resources arranged by what refers to what; built once per state revision, shared by every sidecar. */
export interface ResourceIndex {
  services: Set<string>;
  routes: Route[];
  policies: Policy[];
  routesByHost: Map<string, Route[]>;
  policiesByService: Map<string, Policy[]>;
  policiesByRoute: Map<string, Policy[]>;
  /** FaultExperiment names by target service: they go wherever the service is in scope. */
  experimentsByService: Map<string, string[]>;
  /** AuthorizationPolicy names by target service: only that service's own sidecars enforce (and get) them. */
  authorizationByService: Map<string, string[]>;
  /**
   * Every PeerAuthentication name: each sidecar gets them all (at most one per namespace and one for the mesh),
   * since its callees may live in any namespace and their mode decides whether it dials them with mTLS.
   */
  peerAuthentications: string[];
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

export function indexResources(resources: readonly Resource[]): ResourceIndex {
  const index: ResourceIndex = {
    services: new Set(),
    routes: [],
    policies: [],
    routesByHost: new Map(),
    policiesByService: new Map(),
    policiesByRoute: new Map(),
    experimentsByService: new Map(),
    authorizationByService: new Map(),
    peerAuthentications: [],
  };
  for (const r of resources) {
    if (r.kind === "Service") index.services.add(r.metadata.name);
    else if (r.kind === "Route") {
      index.routes.push(r);
      for (const host of new Set(r.spec.hosts)) push(index.routesByHost, host, r);
    } else if (r.kind === "Policy") {
      index.policies.push(r);
      const t = r.spec.target;
      if ("service" in t) push(index.policiesByService, t.service, r);
      else push(index.policiesByRoute, t.route, r);
    } else if (r.kind === "FaultExperiment") push(index.experimentsByService, r.spec.target.service, r.metadata.name);
    else if (r.kind === "AuthorizationPolicy")
      push(index.authorizationByService, r.spec.targetService, r.metadata.name);
    else if (r.kind === "PeerAuthentication") index.peerAuthentications.push(r.metadata.name);
  }
  return index;
}

/**
 * What one sidecar needs: its own and its subscribed services, every Route
 * serving one of those hosts, every service those routes (and the fallbacks
 * of policies on them) can send to, transitively, and the policies that
 * target any of it. A closure rather than a fixed depth because a fallback
 * service may itself have routes. Cost: the size of the scope, not of the mesh.
 */
export function scopeOf(index: ResourceIndex, request: ScopeRequest): Scope {
  if (request.subscribe.includes(ALL)) {
    return {
      services: new Set([request.service, ...index.services]),
      routes: new Set(index.routes.map((r) => r.metadata.name)),
      policies: new Set(index.policies.map((r) => r.metadata.name)),
    };
  }
  const scope: Scope = { services: new Set(), routes: new Set(), policies: new Set() };
  const queue = [request.service, ...request.subscribe];
  const addPolicy = (p: Policy) => {
    if (scope.policies.has(p.metadata.name)) return;
    scope.policies.add(p.metadata.name);
    const fallback = p.spec.fallback?.service;
    if (fallback !== undefined) queue.push(fallback);
  };
  for (let service = queue.pop(); service !== undefined; service = queue.pop()) {
    if (scope.services.has(service)) continue;
    scope.services.add(service);
    for (const route of index.routesByHost.get(service) ?? []) {
      if (scope.routes.has(route.metadata.name)) continue;
      scope.routes.add(route.metadata.name);
      for (const rule of route.spec.http) for (const d of rule.destinations) queue.push(d.service);
      for (const p of index.policiesByRoute.get(route.metadata.name) ?? []) addPolicy(p);
    }
    for (const p of index.policiesByService.get(service) ?? []) addPolicy(p);
  }
  return scope;
}

export function computeScope(resources: readonly Resource[], request: ScopeRequest): Scope {
  return scopeOf(indexResources(resources), request);
}

export function inScope(scope: Scope, resource: Resource): boolean {
  const name = resource.metadata.name;
  if (resource.kind === "Service") return scope.services.has(name);
  if (resource.kind === "Route") return scope.routes.has(name);
  if (resource.kind === "Policy") return scope.policies.has(name);
  // An experiment reaches the callers of its target (outbound) and the target's own sidecars (inbound).
  if (resource.kind === "FaultExperiment") return scope.services.has(resource.spec.target.service);
  // ConfigReleases never travel as resources: their values reach sidecars as config (config-feed.ts).
  return false;
}

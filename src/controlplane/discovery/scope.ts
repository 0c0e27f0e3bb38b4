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

/**
 * What one sidecar needs: its own and its subscribed services, every Route
 * serving one of those hosts, every service those routes (and the fallbacks
 * of policies on them) can send to, transitively, and the policies that
 * target any of it. A closure rather than a fixed depth because a fallback
 * service may itself have routes.
 */
export function computeScope(resources: readonly Resource[], request: ScopeRequest): Scope {
  const routes = resources.filter((r): r is Route => r.kind === "Route");
  const policies = resources.filter((r): r is Policy => r.kind === "Policy");
  if (request.subscribe.includes(ALL)) {
    return {
      services: new Set([
        request.service,
        ...resources.filter((r) => r.kind === "Service").map((r) => r.metadata.name),
      ]),
      routes: new Set(routes.map((r) => r.metadata.name)),
      policies: new Set(policies.map((r) => r.metadata.name)),
    };
  }
  const scope: Scope = {
    services: new Set([request.service, ...request.subscribe]),
    routes: new Set(),
    policies: new Set(),
  };
  for (let grew = true; grew; ) {
    grew = false;
    for (const route of routes) {
      if (scope.routes.has(route.metadata.name) || !route.spec.hosts.some((h) => scope.services.has(h))) continue;
      scope.routes.add(route.metadata.name);
      for (const rule of route.spec.http) for (const d of rule.destinations) scope.services.add(d.service);
      grew = true;
    }
    for (const policy of policies) {
      if (scope.policies.has(policy.metadata.name)) continue;
      const t = policy.spec.target;
      const hit = "service" in t ? scope.services.has(t.service) : scope.routes.has(t.route);
      if (!hit) continue;
      scope.policies.add(policy.metadata.name);
      const fallback = policy.spec.fallback?.service;
      if (fallback !== undefined) scope.services.add(fallback);
      grew = true;
    }
  }
  return scope;
}

export function inScope(scope: Scope, resource: Resource): boolean {
  const name = resource.metadata.name;
  if (resource.kind === "Service") return scope.services.has(name);
  if (resource.kind === "Route") return scope.routes.has(name);
  return scope.policies.has(name);
}

import type { Resource } from "./resources.ts";

/**
 * A reference from one resource to another that does not resolve. These are
 * warnings, not rejections: resources may be applied in any order (a Route
 * before its Service, in separate files), and a dangling reference degrades
 * one route at run time (the sidecar answers 503 with flag NR/UH) instead of
 * blocking every other change in the same apply.
 */
export interface ReferenceWarning {
  /** `Route/reviews` */
  resource: string;
  /** `spec.http[0].destinations[1].service` */
  path: string;
  message: string;
}

/** Checks every cross-reference within one complete set of resources (the state an apply would produce). */
export function checkReferences(resources: readonly Resource[]): ReferenceWarning[] {
  const services = new Map<string, Set<number>>();
  const routes = new Set<string>();
  for (const r of resources) {
    if (r.kind === "Service") services.set(r.metadata.name, new Set(r.spec.ports.map((p) => p.port)));
    if (r.kind === "Route") routes.add(r.metadata.name);
  }
  const warnings: ReferenceWarning[] = [];
  const hostOwner = new Map<string, string>();
  for (const r of resources) {
    const id = `${r.kind}/${r.metadata.name}`;
    if (r.kind === "Route") {
      r.spec.hosts.forEach((host, h) => {
        const owner = hostOwner.get(host);
        if (owner !== undefined) {
          warnings.push({
            resource: id,
            path: `spec.hosts[${h}]`,
            message: `host "${host}" is also claimed by ${owner}; the route whose name sorts first wins`,
          });
        } else hostOwner.set(host, id);
      });
      r.spec.http.forEach((rule, i) => {
        rule.destinations.forEach((d, j) => {
          const path = `spec.http[${i}].destinations[${j}]`;
          const ports = services.get(d.service);
          if (ports === undefined) {
            warnings.push({ resource: id, path: `${path}.service`, message: `Service "${d.service}" does not exist` });
          } else if (d.port !== undefined && !ports.has(d.port)) {
            warnings.push({
              resource: id,
              path: `${path}.port`,
              message: `Service "${d.service}" has no port ${d.port}`,
            });
          }
        });
      });
    }
    if (r.kind === "Policy") {
      const t = r.spec.target;
      if ("service" in t && !services.has(t.service)) {
        warnings.push({ resource: id, path: "spec.target.service", message: `Service "${t.service}" does not exist` });
      }
      if ("route" in t && !routes.has(t.route)) {
        warnings.push({ resource: id, path: "spec.target.route", message: `Route "${t.route}" does not exist` });
      }
      const fallback = r.spec.fallback?.service;
      if (fallback !== undefined && !services.has(fallback)) {
        warnings.push({ resource: id, path: "spec.fallback.service", message: `Service "${fallback}" does not exist` });
      }
    }
  }
  return warnings;
}

export function formatWarning(w: ReferenceWarning): string {
  return `${w.resource} ${w.path}: ${w.message}`;
}

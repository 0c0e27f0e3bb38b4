import type { Finding } from "./finding.ts";
import type { Resource } from "./resources.ts";

/**
 * References from one resource to another that do not resolve. These are
 * warnings, not rejections: resources may be applied in any order (a Route
 * before its Service, in separate files), and a dangling reference degrades
 * one destination at run time (the sidecar answers 503 with flag UH) instead
 * of blocking every other change in the same apply.
 */
export function checkReferences(resources: readonly Resource[]): Finding[] {
  const services = new Map<string, Set<number>>();
  const routes = new Set<string>();
  /** Namespaces a sidecar can be in: the control plane gives one only through an account a Service lists. */
  const namespaces = new Set<string>();
  for (const r of resources) {
    if (r.kind === "Service") {
      services.set(r.metadata.name, new Set(r.spec.ports.map((p) => p.port)));
      for (const a of r.spec.serviceAccounts ?? []) namespaces.add(a.namespace);
    }
    if (r.kind === "Route") routes.add(r.metadata.name);
  }
  const findings: Finding[] = [];
  const warn = (code: string, resource: string, path: string, message: string, related?: string) =>
    findings.push({
      code,
      severity: "warning",
      resource,
      path,
      message,
      ...(related === undefined ? {} : { related: [related] }),
    });
  const hostOwner = new Map<string, string>();
  /** `namespace/name` of a service account → the Service that listed it first. */
  const accountOwner = new Map<string, string>();
  for (const r of resources) {
    const id = `${r.kind}/${r.metadata.name}`;
    if (r.kind === "Service") {
      (r.spec.serviceAccounts ?? []).forEach((a, i) => {
        const account = `${a.namespace}/${a.name}`;
        const owner = accountOwner.get(account);
        if (owner === undefined) accountOwner.set(account, id);
        else if (owner !== id)
          warn(
            "SharedServiceAccount",
            id,
            `spec.serviceAccounts[${i}]`,
            `service account "${account}" is also listed by ${owner}: a sidecar with it may register as, and passes its callers' identity check as, any Service listing it; as a caller it counts as all of them (an AuthorizationPolicy ALLOW needs every one allowed, a DENY of any one refuses it)`,
            owner,
          );
      });
    }
    if (r.kind === "Route") {
      r.spec.hosts.forEach((host, h) => {
        const owner = hostOwner.get(host);
        if (owner !== undefined) {
          warn(
            "HostConflict",
            id,
            `spec.hosts[${h}]`,
            `host "${host}" is also claimed by ${owner}; the rules of the route whose name sorts first are tried first`,
            owner,
          );
        } else hostOwner.set(host, id);
      });
      r.spec.http.forEach((rule, i) => {
        rule.destinations.forEach((d, j) => {
          const path = `spec.http[${i}].destinations[${j}]`;
          const ports = services.get(d.service);
          if (ports === undefined) {
            warn("ServiceNotFound", id, `${path}.service`, `Service "${d.service}" does not exist`);
          } else if (d.port !== undefined && !ports.has(d.port)) {
            warn("PortNotFound", id, `${path}.port`, `Service "${d.service}" has no port ${d.port}`);
          }
        });
      });
    }
    if (r.kind === "PeerAuthentication" && r.spec.namespace !== undefined && !namespaces.has(r.spec.namespace)) {
      warn(
        "NamespaceNotFound",
        id,
        "spec.namespace",
        `no Service lists a service account in namespace "${r.spec.namespace}" (spec.serviceAccounts), so no sidecar is in it`,
      );
    }
    if (r.kind === "Policy") {
      const t = r.spec.target;
      if ("service" in t && !services.has(t.service)) {
        warn("ServiceNotFound", id, "spec.target.service", `Service "${t.service}" does not exist`);
      }
      if ("route" in t && !routes.has(t.route)) {
        warn("RouteNotFound", id, "spec.target.route", `Route "${t.route}" does not exist`);
      }
      const fallback = r.spec.fallback?.service;
      if (fallback !== undefined && !services.has(fallback)) {
        warn("ServiceNotFound", id, "spec.fallback.service", `Service "${fallback}" does not exist`);
      }
    }
  }
  return findings;
}

import type { ServiceAccountRef } from "../../config/kube-names.ts";

/**
 * Roles of control-plane tokens and what each may do. The order of trust: read-only < config-writer, operator <
 * admin; a sidecar token is apart (its own service on the gRPC streams, nothing on the HTTP API).
 */
export const ROLES = ["admin", "operator", "config-writer", "read-only", "sidecar"] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Who a valid token speaks for. */
export interface Principal {
  name: string;
  role: Role;
  /** role sidecar: the one service whose endpoints it may register and whose snapshots it may receive. */
  service?: string;
  /** role config-writer: the config keys (a prefix, "" for all) it may write. */
  prefix?: string;
  /**
   * A Kubernetes service-account token (role sidecar, no `service`): it acts for the Services that list this
   * account in spec.serviceAccounts, which the discovery stream checks against the state (entitlement.ts).
   */
  account?: ServiceAccountRef;
}

/** What a request needs. */
export type Access =
  | { kind: "open" }
  | { kind: "read" }
  | { kind: "resources" }
  | { kind: "config"; key: string }
  | { kind: "admin" }
  /** Open a sidecar's discovery stream (the service is checked per message: kind sidecar). */
  | { kind: "attach" }
  | { kind: "sidecar"; service: string };

/** Why `who` may not do `access`, or undefined when it may. */
export function denial(who: Principal, access: Access): string | undefined {
  if (access.kind === "open" || who.role === "admin") return undefined;
  switch (access.kind) {
    case "read":
      return who.role === "sidecar" ? `a sidecar token (${who.name}) may only attach a sidecar` : undefined;
    case "attach":
      return who.role === "sidecar" ? undefined : `role ${who.role} may not attach a sidecar (needs sidecar or admin)`;
    case "resources":
      return who.role === "operator"
        ? undefined
        : `role ${who.role} may not change resources (needs operator or admin)`;
    case "config":
      if (who.role !== "config-writer") return `role ${who.role} may not write config (needs config-writer or admin)`;
      return access.key.startsWith(who.prefix ?? "")
        ? undefined
        : `token ${who.name} may write config keys under "${who.prefix ?? ""}" only, not "${access.key}"`;
    case "sidecar":
      if (who.role !== "sidecar") return `role ${who.role} may not attach a sidecar (needs sidecar or admin)`;
      return who.service === access.service
        ? undefined
        : `token ${who.name} is bound to service "${who.service ?? ""}", not "${access.service}"`;
    case "admin":
      return `role ${who.role} may not do this (needs admin)`;
  }
}

/**
 * Kubernetes' own name rules, for the namespaces and service accounts an
 * identity names (spiffe://<td>/ns/<namespace>/sa/<service-account>): a
 * namespace is a DNS-1123 label, a service account a DNS-1123 subdomain.
 * Both are valid SPIFFE path segments, so such an identity always parses.
 */
export const NAMESPACE_PATTERN = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
export const SERVICE_ACCOUNT_PATTERN = "^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$";

const namespace = new RegExp(NAMESPACE_PATTERN);
const serviceAccount = new RegExp(SERVICE_ACCOUNT_PATTERN);

export function isNamespace(value: string): boolean {
  return namespace.test(value);
}

/** A DNS-1123 subdomain: no empty label between dots, so `a..b` and `.` are refused. */
export function isServiceAccountName(value: string): boolean {
  return serviceAccount.test(value) && !value.includes("..") && !value.includes(".-") && !value.includes("-.");
}

/** A Kubernetes service account, by namespace and name. */
export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

export function sameAccount(a: ServiceAccountRef, b: ServiceAccountRef): boolean {
  return a.namespace === b.namespace && a.name === b.name;
}

export function formatAccount(a: ServiceAccountRef): string {
  return `${a.namespace}/${a.name}`;
}

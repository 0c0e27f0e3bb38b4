/**
 * SPIFFE IDs (spiffe.io, "SPIFFE ID" standard): `spiffe://<trust-domain>/<path>`.
 * meshlet issues two shapes: `/service/<service>` for a sidecar registered
 * under a Service name, `/ns/<namespace>/sa/<service-account>` when the
 * workload runs with a Kubernetes service account. Parsing is strict (the
 * standard's character sets, no dot segments, no query, port or user info)
 * because an identity is compared as a string by policies.
 */

const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
/** The SPIFFE standard caps an ID at 2048 bytes. */
const MAX_ID_LENGTH = 2048;

export const DEFAULT_TRUST_DOMAIN = "cluster.local";

export type WorkloadName = { service: string } | { namespace: string; serviceAccount: string };

export interface SpiffeId {
  trustDomain: string;
  /** Path segments after the trust domain, e.g. ["service", "reviews"]. */
  segments: string[];
}

export function isTrustDomain(value: string): boolean {
  return TRUST_DOMAIN.test(value) && !value.startsWith(".") && !value.endsWith(".");
}

function validSegment(s: string): boolean {
  return SEGMENT.test(s) && s !== "." && s !== "..";
}

/** The identity the CA puts in a workload certificate. Throws on names that cannot form a valid ID. */
export function spiffeIdFor(trustDomain: string, name: WorkloadName): string {
  if (!isTrustDomain(trustDomain)) throw new RangeError(`invalid SPIFFE trust domain "${trustDomain}"`);
  const segments = "service" in name ? ["service", name.service] : ["ns", name.namespace, "sa", name.serviceAccount];
  for (const s of segments)
    if (!validSegment(s)) throw new RangeError(`"${s}" cannot be a SPIFFE path segment ([A-Za-z0-9._-], not . or ..)`);
  const id = `spiffe://${trustDomain}/${segments.join("/")}`;
  // Every peer would refuse a longer one (parseSpiffeId): a certificate carrying it would be useless.
  if (id.length > MAX_ID_LENGTH)
    throw new RangeError(`a SPIFFE ID is at most ${MAX_ID_LENGTH} bytes, got ${id.length}`);
  return id;
}

/** Parses a SPIFFE ID; undefined for anything that is not one exactly (never normalizes). */
export function parseSpiffeId(value: string): SpiffeId | undefined {
  if (value.length > MAX_ID_LENGTH || !value.startsWith("spiffe://")) return undefined;
  const rest = value.slice("spiffe://".length);
  const slash = rest.indexOf("/");
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  if (!isTrustDomain(trustDomain)) return undefined;
  if (slash === -1) return undefined;
  const segments = rest.slice(slash + 1).split("/");
  if (!segments.every(validSegment)) return undefined;
  return { trustDomain, segments };
}

import type { IdentitySource, Owners } from "../identity-table.ts";

/**
 * Who is calling. On an mTLS connection the caller is what its verified
 * certificate says (as Istio and Linkerd learn it), read from the identity
 * table: a `/service/<name>` ID names the Service, a `/ns/<ns>/sa/<sa>` ID
 * the Service that lists that account, and the header is not believed
 * beyond that. On a plain-text
 * connection (PERMISSIVE, DISABLE) the caller's sidecar names its own service
 * in `x-meshlet-source`, believed only when the connection comes from the
 * address of an endpoint the running snapshot knows and the name is a Service
 * of that snapshot. Anything else is `unknown`: a forged header cannot pick
 * another caller's rate-limit bucket, and cannot grow the metrics' label values.
 */

/** The header that carries the calling service between sidecars (DESIGN.md). */
export const SOURCE_HEADER = "x-meshlet-source";

/** The caller when it cannot be told (not from the mesh, no header, or a name the snapshot does not have). */
export const UNKNOWN_SOURCE = "unknown";

/** The mesh as the running snapshot knows it, for plain-text callers: built once per snapshot. */
export interface MeshPeers {
  /** Endpoint addresses of every Service (IPv4-mapped IPv6 written as IPv4). */
  readonly addresses: ReadonlySet<string>;
  readonly services: ReadonlySet<string>;
}

export function meshPeers(services: Iterable<{ name: string; endpoints: Iterable<{ address: string }> }>): MeshPeers {
  const addresses = new Set<string>();
  const names = new Set<string>();
  for (const s of services) {
    names.add(s.name);
    for (const e of s.endpoints) addresses.add(plainAddress(e.address));
  }
  return { addresses, services: names };
}

/**
 * The caller of a verified peer, from the Services its identity may be
 * (identity-table.ts): the one Service when the snapshot has it; for a
 * shared account, the Service the header names among them (each of them
 * could hold that certificate, so the header only chooses, never widens);
 * else `unknown`.
 */
export function verifiedSource(owners: Owners, claimed: string | undefined, mesh: MeshPeers): string {
  if (owners.length === 1) {
    const only = owners[0] as string;
    return mesh.services.has(only) ? only : UNKNOWN_SOURCE;
  }
  return claimed !== undefined && owners.includes(claimed) && mesh.services.has(claimed) ? claimed : UNKNOWN_SOURCE;
}

/** Who called, per snapshot: the identity table for mTLS peers, the mesh's addresses and names for plain text. */
export class PeerSources {
  readonly #mesh: MeshPeers;
  readonly #identities: IdentitySource;

  constructor(mesh: MeshPeers, identities: IdentitySource) {
    this.#mesh = mesh;
    this.#identities = identities;
  }

  get mesh(): MeshPeers {
    return this.#mesh;
  }

  /** The caller of an inbound request: from the verified identity when there is one, else the trusted header. */
  sourceOf(identity: string | undefined, peer: string | undefined, claimed: string | undefined): string {
    if (identity === undefined) return trustedSource(peer, claimed, this.#mesh);
    return verifiedSource(this.#identities.table.ownerOf(identity), claimed, this.#mesh);
  }
}

const MAPPED = "::ffff:";

/** `::ffff:10.0.0.1` (how a dual-stack socket shows an IPv4 peer) as `10.0.0.1`. */
export function plainAddress(address: string): string {
  return address.length > MAPPED.length && address.startsWith(MAPPED) && address.includes(".")
    ? address.slice(MAPPED.length)
    : address;
}

/**
 * The calling service of an inbound request: the header's value when the
 * connection's peer is an endpoint of the mesh and the value names one of its
 * Services; otherwise `unknown`.
 */
export function trustedSource(peer: string | undefined, claimed: string | undefined, mesh: MeshPeers): string {
  if (peer === undefined || claimed === undefined) return UNKNOWN_SOURCE;
  if (!mesh.addresses.has(plainAddress(peer))) return UNKNOWN_SOURCE;
  return mesh.services.has(claimed) ? claimed : UNKNOWN_SOURCE;
}

/** The value of `x-meshlet-source` in a flat header list; undefined when absent or given twice. */
export function claimedSource(raw: readonly string[]): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length !== SOURCE_HEADER.length || name.toLowerCase() !== SOURCE_HEADER) continue;
    if (found !== undefined) return undefined;
    found = raw[i + 1] as string;
  }
  return found;
}

/**
 * Sets the header of a flat list (in place) to `service`: whatever the app or
 * a peer wrote is dropped first, so an app cannot speak for another service.
 * An `unknown` caller gets no header at all.
 */
export function setSourceHeader(headers: string[], service: string): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    const name = headers[r] as string;
    if (name.length === SOURCE_HEADER.length && name.toLowerCase() === SOURCE_HEADER) continue;
    headers[w] = name;
    headers[w + 1] = headers[r + 1] as string;
    w += 2;
  }
  headers.length = w;
  if (service !== UNKNOWN_SOURCE) headers.push(SOURCE_HEADER, service);
}

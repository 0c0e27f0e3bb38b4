import { parseSpiffeId } from "../../security/spiffe.ts";

/**
 * Who is calling. On an mTLS connection the caller is what its verified
 * certificate says (as Istio and Linkerd learn it): a `/service/<name>` ID
 * names the Service, a `/ns/<ns>/sa/<sa>` ID the Service that lists that
 * account, and the header is not believed beyond that. On a plain-text
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

/** A Kubernetes service account a Service lists in spec.serviceAccounts. */
export interface AccountRef {
  readonly namespace: string;
  readonly name: string;
}

/** The mesh as the running snapshot knows it: built once per snapshot. */
export interface MeshPeers {
  /** Endpoint addresses of every Service (IPv4-mapped IPv6 written as IPv4). */
  readonly addresses: ReadonlySet<string>;
  readonly services: ReadonlySet<string>;
  /** `<namespace>/<account>` to the Services that list it (more than one when Services share an account). */
  readonly accounts: ReadonlyMap<string, readonly string[]>;
}

export function meshPeers(
  services: Iterable<{
    name: string;
    endpoints: Iterable<{ address: string }>;
    serviceAccounts?: readonly AccountRef[] | undefined;
  }>,
): MeshPeers {
  const addresses = new Set<string>();
  const names = new Set<string>();
  const accounts = new Map<string, string[]>();
  for (const s of services) {
    names.add(s.name);
    for (const e of s.endpoints) addresses.add(plainAddress(e.address));
    for (const a of s.serviceAccounts ?? []) {
      const key = `${a.namespace}/${a.name}`;
      const listed = accounts.get(key);
      if (listed === undefined) accounts.set(key, [s.name]);
      else if (!listed.includes(s.name)) listed.push(s.name);
    }
  }
  return { addresses, services: names, accounts };
}

/**
 * What a verified peer identity says about the caller: one Service, the
 * Services sharing its account (the header may pick one of them), or none.
 */
export type IdentitySource = string | ReadonlySet<string>;

/**
 * The Services a verified SPIFFE ID may speak for in this snapshot: its
 * `/service/<name>` when the snapshot has that Service; the Services listing
 * its `/ns/<ns>/sa/<sa>` account; else `unknown`. The trust domain was
 * checked by the listener (a foreign one never gets this far).
 */
export function identitySource(identity: string, mesh: MeshPeers): IdentitySource {
  const id = parseSpiffeId(identity);
  const seg = id?.segments ?? [];
  if (seg.length === 2 && seg[0] === "service")
    return mesh.services.has(seg[1] as string) ? (seg[1] as string) : UNKNOWN_SOURCE;
  if (seg.length === 4 && seg[0] === "ns" && seg[2] === "sa") {
    const listed = mesh.accounts.get(`${seg[1]}/${seg[3]}`) ?? [];
    if (listed.length === 1) return listed[0] as string;
    if (listed.length > 1) return new Set(listed);
  }
  return UNKNOWN_SOURCE;
}

/** The caller of a verified peer: the header counts only to choose among Services sharing its account. */
export function verifiedSource(source: IdentitySource, claimed: string | undefined): string {
  if (typeof source === "string") return source;
  return claimed !== undefined && source.has(claimed) ? claimed : UNKNOWN_SOURCE;
}

/** Distinct peer identities remembered per snapshot; a mesh has far fewer (each is signed by the mesh CA). */
const MAX_REMEMBERED_IDENTITIES = 10_000;

/**
 * The calling service of each verified peer identity, worked out the first
 * time an identity is seen under a snapshot and then found with one map
 * lookup: the trust domain is not known when a snapshot is applied (it comes
 * with the certificate), so the map is keyed by whole IDs as they arrive.
 */
export class PeerSources {
  readonly #mesh: MeshPeers;
  readonly #known = new Map<string, IdentitySource>();

  constructor(mesh: MeshPeers) {
    this.#mesh = mesh;
  }

  get mesh(): MeshPeers {
    return this.#mesh;
  }

  /** The caller of an inbound request: from the verified identity when there is one, else the trusted header. */
  sourceOf(identity: string | undefined, peer: string | undefined, claimed: string | undefined): string {
    if (identity === undefined) return trustedSource(peer, claimed, this.#mesh);
    let source = this.#known.get(identity);
    if (source === undefined) {
      source = identitySource(identity, this.#mesh);
      if (this.#known.size < MAX_REMEMBERED_IDENTITIES) this.#known.set(identity, source);
    }
    return verifiedSource(source, claimed);
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

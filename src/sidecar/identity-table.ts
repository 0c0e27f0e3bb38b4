import type { Resource } from "../config/resources.ts";
import { spiffeIdFor } from "../security/spiffe.ts";

/**
 * Which Service a verified SPIFFE ID speaks for, and which IDs a Service's
 * sidecars may present: one table per snapshot and trust domain, read by
 * the three places that need it (the caller's check of a destination's
 * certificate, AuthorizationPolicy `from.services`, telemetry's
 * source_service). It is the inverse of what the control plane signs
 * (controlplane/security/entitlement.ts): `/service/<name>` only for a
 * sidecar of `<name>`, `/ns/<ns>/sa/<sa>` for a sidecar of any Service whose
 * spec.serviceAccounts lists that account. An account listed by several
 * Services therefore proves "one of them", never which: its owners are all
 * of them, and each reader decides what an ambiguous caller may do.
 */

/** A Service as the table needs it: its name and the accounts it lists. */
export interface ServiceAccounts {
  readonly name: string;
  readonly serviceAccounts?: readonly { readonly namespace: string; readonly name: string }[] | undefined;
}

/** The Services an identity may be, sorted: one when unambiguous, several for a shared account, none when unknown. */
export type Owners = readonly string[];

const NONE: Owners = Object.freeze([]);

/** Distinct `/service/<name>` IDs of names the snapshot does not list, remembered per table; the CA signs far fewer. */
const MAX_REMEMBERED = 10_000;

export class IdentityTable {
  /** The trust domain the IDs are written in; undefined before the sidecar's first certificate (no peer has an ID). */
  readonly trustDomain: string | undefined;
  readonly #owners = new Map<string, Owners>();
  readonly #ids = new Map<string, ReadonlySet<string>>();
  readonly #servicePrefix: string | undefined;
  /** `/service/<name>` of names outside the snapshot (a sidecar needs no Service resource): worked out once each. */
  readonly #unlisted = new Map<string, Owners>();

  constructor(services: Iterable<ServiceAccounts>, trustDomain: string | undefined) {
    this.trustDomain = trustDomain;
    this.#servicePrefix = trustDomain === undefined ? undefined : `spiffe://${trustDomain}/service/`;
    if (trustDomain === undefined) return;
    const shared = new Map<string, string[]>();
    for (const s of services) {
      const own = spiffeIdFor(trustDomain, { service: s.name });
      const ids = new Set([own]);
      this.#owners.set(own, Object.freeze([s.name]));
      for (const a of s.serviceAccounts ?? []) {
        const id = spiffeIdFor(trustDomain, { namespace: a.namespace, serviceAccount: a.name });
        ids.add(id);
        const listed = shared.get(id);
        if (listed === undefined) shared.set(id, [s.name]);
        else if (!listed.includes(s.name)) listed.push(s.name);
      }
      this.#ids.set(s.name, ids);
    }
    for (const [id, names] of shared) this.#owners.set(id, Object.freeze(names.sort()));
  }

  /**
   * The Services a verified peer ID may be. One map lookup for IDs of the
   * snapshot; a `/service/<name>` ID of a name the snapshot does not list
   * is still that name (the CA signs it for `<name>`'s sidecars whether or
   * not a Service resource exists); anything else, none.
   */
  ownerOf(id: string): Owners {
    const known = this.#owners.get(id) ?? this.#unlisted.get(id);
    if (known !== undefined) return known;
    const prefix = this.#servicePrefix;
    if (
      prefix === undefined ||
      id.length <= prefix.length ||
      !id.startsWith(prefix) ||
      id.indexOf("/", prefix.length) >= 0
    )
      return NONE;
    const owners = Object.freeze([id.slice(prefix.length)]);
    if (this.#unlisted.size < MAX_REMEMBERED) this.#unlisted.set(id, owners);
    return owners;
  }

  /** The IDs a sidecar of `service` may present: `/service/<service>` and each listed account's; none without a trust domain. */
  idsOf(service: string): ReadonlySet<string> {
    const listed = this.#ids.get(service);
    if (listed !== undefined) return listed;
    return this.trustDomain === undefined ? new Set() : new Set([spiffeIdFor(this.trustDomain, { service })]);
  }
}

/** The running table, read at each use: the trust domain may arrive after the snapshot. */
export interface IdentitySource {
  readonly table: IdentityTable;
}

/**
 * The running table: rebuilt only when the snapshot's Services and accounts
 * or the trust domain change, so a reader can compare tables by reference
 * to know whether anything it derived is stale.
 */
export class MeshIdentities implements IdentitySource {
  #services: readonly ServiceAccounts[] = [];
  #servicesKey = "";
  #trustDomain: string | undefined;
  #table = new IdentityTable([], undefined);

  get table(): IdentityTable {
    return this.#table;
  }

  /** A new snapshot's Services (with their spec.serviceAccounts). */
  useServices(services: Iterable<ServiceAccounts>): void {
    const list = [...services];
    const key = list
      .map((s) => `${s.name}=${(s.serviceAccounts ?? []).map((a) => `${a.namespace}/${a.name}`).join(";")}`)
      .sort()
      .join(",");
    if (key === this.#servicesKey) return;
    this.#services = list;
    this.#servicesKey = key;
    this.#table = new IdentityTable(list, this.#trustDomain);
  }

  /** The trust domain of the sidecar's certificate (peers of another one never get past the listener). */
  useTrustDomain(trustDomain: string | undefined): void {
    if (trustDomain === this.#trustDomain) return;
    this.#trustDomain = trustDomain;
    this.#table = new IdentityTable(this.#services, trustDomain);
  }
}

/** The Services of a snapshot's resources, for `useServices`. */
export function serviceAccountsOf(resources: readonly Resource[]): ServiceAccounts[] {
  const out: ServiceAccounts[] = [];
  for (const r of resources)
    if (r.kind === "Service") out.push({ name: r.metadata.name, serviceAccounts: r.spec.serviceAccounts });
  return out;
}

import { Socket } from "node:net";
import type { Registry } from "prom-client";
import type { Clock } from "../../common/clock.ts";
import type { Logger } from "../../common/logger.ts";
import { parseSpiffeId, spiffeIdFor } from "../../security/spiffe.ts";
import type { MeshSnapshot } from "../discovery/client.ts";
import { registeredEndpoints } from "../discovery/registered.ts";
import type { Connector } from "../engine/connect.ts";
import type { ConnectorFor } from "../engine/upstreams.ts";
import type { CompiledSnapshot } from "../snapshot.ts";
import type { UpstreamEndpoint } from "../upstream/balancer.ts";
import { mtlsConnector, OutboundTlsRefusals } from "./connector.ts";
import { InboundMtls } from "./listener.ts";
import { effectiveMode, type MtlsModes, modesKey, mtlsModes, peerIdentities } from "./modes.ts";
import { WorkloadIdentity } from "./workload-identity.ts";

export interface MeshTlsOptions {
  service: string;
  /** --namespace/--service-account, when given: the namespace picks the PeerAuthentication of the inbound port. */
  account?: { namespace: string; name: string } | undefined;
  clock: Clock;
  wallNow: () => number;
  logger: Logger;
  registry: Registry;
  /** Sends a CSR on the discovery stream (false: no stream open). */
  send: (csrPem: string) => boolean;
  /** The upstream transport plan changed: pools must be remade with it. */
  useTransports: (connectorFor: ConnectorFor) => void;
}

/**
 * The sidecar's mTLS, wired from its three parts: the workload identity
 * (certificate over the discovery stream), the inbound listener transport,
 * and the outbound connectors. Decided once per snapshot or certificate:
 * which endpoints are peer sidecars (registered through the control plane,
 * so mTLS to them; static endpoints have no sidecar and stay plain) and
 * the mode of each: its Service's, else its namespace's, else the mesh's
 * (modes.ts effectiveMode).
 */
export class MeshTls {
  readonly identity: WorkloadIdentity;
  readonly inbound: InboundMtls;
  readonly #o: MeshTlsOptions;
  readonly #refusals: OutboundTlsRefusals;
  /**
   * Endpoint key → the Service it was registered for and the namespace the control plane stamped on it (absent
   * from an older node, or for a sidecar without one), from the latest discovery snapshot.
   */
  #sidecars = new Map<string, PeerSidecar>();
  /** Endpoint keys registered for more than one Service, or namespace (never dialled: see #replan). */
  #conflicts = new Set<string>();
  #modes: MtlsModes = { services: new Map(), namespaces: new Map(), mesh: undefined };
  /** The Services' accounts as written, part of the transport plan: a listed account changes whom a pool accepts. */
  #accounts = "";
  #snap: CompiledSnapshot | undefined;
  #plan = "";

  constructor(o: MeshTlsOptions) {
    this.#o = o;
    this.inbound = new InboundMtls(o.registry, o.logger, () => o.clock.now());
    this.#refusals = new OutboundTlsRefusals(o.registry, o.logger, () => o.clock.now());
    this.identity = new WorkloadIdentity({
      service: o.service,
      account: o.account,
      clock: o.clock,
      wallNow: o.wallNow,
      logger: o.logger,
      registry: o.registry,
      send: o.send,
    });
    this.identity.onChange((m) => {
      this.inbound.use(m);
      this.#setInboundMode();
      this.#replan();
    });
  }

  /** The registered (sidecar) endpoints of a discovery snapshot, before it becomes a config snapshot: only they speak mTLS. */
  registered(s: MeshSnapshot): void {
    const sidecars = new Map<string, PeerSidecar>();
    const conflicts = new Set<string>();
    for (const e of registeredEndpoints(s)) {
      const key = `${e.address}:${e.port}`;
      const claimed = sidecars.get(key);
      const namespace = e.namespace === "" ? undefined : e.namespace;
      if (claimed !== undefined && (claimed.service !== e.service || claimed.namespace !== namespace))
        conflicts.add(key);
      sidecars.set(key, { service: e.service, namespace });
    }
    // A pool keeps the transport it was made with: an address now held by another service or namespace (its
    // instance replaced within one push) needs a new one, so the next swap remakes the pools.
    for (const [key, was] of this.#sidecars) {
      const now = sidecars.get(key);
      if (now !== undefined && (now.service !== was.service || now.namespace !== was.namespace)) this.#plan = "";
    }
    this.#sidecars = sidecars;
    this.#conflicts = conflicts;
  }

  /** A compiled snapshot is going live: the modes it sets, and this sidecar's own for the inbound listener. */
  swap(snap: CompiledSnapshot): void {
    this.#modes = mtlsModes(snap.resources);
    this.#snap = snap;
    this.#accounts = serviceAccountsKey(snap);
    this.#setInboundMode();
    this.#replan();
  }

  /**
   * The sidecar's namespace is its certificate's, as the control plane decided it (a Kubernetes token's account
   * wins over the flags): the one the control plane stamps on its endpoints, so callers apply the same mode.
   * Before the first certificate, --namespace.
   */
  #setInboundMode(): void {
    const id = this.identity.material?.identity;
    const segments = id === undefined ? undefined : parseSpiffeId(id)?.segments;
    const namespace = segments?.[0] === "ns" ? segments[1] : this.#o.account?.namespace;
    this.inbound.setMode(effectiveMode(this.#modes, this.#o.service, namespace));
  }

  stop(): void {
    this.identity.stop();
  }

  /**
   * Pools are remade only when what decides a transport changed (certificate presence, a mode at any level, an
   * address changing hands), not when endpoints come and go: an endpoint's mode is looked up when its pool is made.
   */
  #replan(): void {
    const material = this.identity.material;
    const plan = `${material?.trustDomain ?? "-"}|${modesKey(this.#modes)}|${this.#accounts}|${[...this.#conflicts].sort().join(",")}`;
    if (plan === this.#plan) return;
    this.#plan = plan;
    const modes = this.#modes;
    const snap = this.#snap;
    const identities =
      material === undefined || snap === undefined
        ? new Map<string, ReadonlySet<string>>()
        : peerIdentities(snap, material.trustDomain);
    const sidecars = () => this.#sidecars;
    const conflicts = this.#conflicts;
    const current = () => this.identity.material;
    const refusals = this.#refusals;
    this.#o.useTransports((e: Pick<UpstreamEndpoint, "key">): Connector | undefined => {
      const m = current();
      const peer = sidecars().get(e.key);
      // Two services' (or namespaces') sidecars at one address: which transport and identity is not decidable, and
      // a guess would let one downgrade or impersonate the other (a sidecar token may register any address).
      if (m !== undefined && conflicts.has(e.key))
        return refusingConnector(
          "ERR_ENDPOINT_CONFLICT",
          `${e.key} is registered by sidecars of two services or namespaces: not dialled`,
        );
      if (peer === undefined) return undefined;
      const { service } = peer;
      const mode = effectiveMode(modes, service, peer.namespace);
      if (mode === "DISABLE") return undefined;
      // No certificate yet: a STRICT peer refuses plain text, so a plain request could only fail after its
      // headers and body crossed the network in the clear. It fails here instead, as a connect failure (UF).
      if (m === undefined)
        return mode === "STRICT"
          ? refusingConnector("ERR_NO_CERTIFICATE", `${e.key} is STRICT and this sidecar has no certificate yet`)
          : undefined;
      return mtlsConnector(current, identities.get(service) ?? spiffeIdFor(m.trustDomain, { service }), refusals);
    });
  }
}

/** A peer sidecar as its registration says. */
interface PeerSidecar {
  service: string;
  namespace: string | undefined;
}

/** A transport that fails every connection at once (pools count it as a connect failure, UF). */
function refusingConnector(code: string, message: string): Connector {
  return () => {
    const socket = new Socket();
    process.nextTick(() => socket.destroy(Object.assign(new Error(message), { code })));
    return { socket, ready: "connect" };
  };
}

function serviceAccountsKey(snap: CompiledSnapshot): string {
  const parts: string[] = [];
  for (const r of snap.resources)
    if (r.kind === "Service" && r.spec.serviceAccounts !== undefined && r.spec.serviceAccounts.length > 0)
      parts.push(`${r.metadata.name}=${r.spec.serviceAccounts.map((a) => `${a.namespace}/${a.name}`).join(";")}`);
  return parts.join(",");
}

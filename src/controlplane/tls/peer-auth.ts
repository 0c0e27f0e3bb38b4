import { createSecureContext, type SecureContext, type TLSSocket } from "node:tls";
import { Metadata, type ServerErrorResponse, status, type UntypedHandleCall } from "@grpc/grpc-js";
import { Counter, type Registry } from "prom-client";
import { TlsChannelCredentials } from "../../common/grpc-tls.ts";
import type { Logger } from "../../common/logger.ts";
import { isSelfSigned } from "../../security/node-cert.ts";
import { nodeNameOf } from "../../security/node-name.ts";
import type { AddService } from "../auth/grpc-access.ts";
import type { NodeIdentity } from "./node-identity.ts";

/** The methods one control-plane node calls on another: they need a node certificate, not a token. */
export const PEER_RPCS: ReadonlyMap<string, string> = new Map([
  ["/meshlet.raft.v1.Raft/Stream", "raft_stream"],
  ["/meshlet.raft.v1.Raft/InstallSnapshot", "raft_snapshot"],
  ["/meshlet.raft.v1.Raft/Forward", "raft_forward"],
  ["/meshlet.discovery.v1.Discovery/RenewLeases", "renew_leases"],
  ["/meshlet.discovery.v1.Discovery/ListSidecars", "list_sidecars"],
]);

export type PeerRefusal = "no_certificate" | "not_node_certificate" | "other_cluster" | "untrusted_issuer";

export type PeerVerdict =
  | { ok: true; nodeId: string; via: "mesh_ca" | "founding" }
  | { ok: false; reason: PeerRefusal };

export interface PeerAuthOptions {
  identity: NodeIdentity;
  /** The founding members' ids (--peers): the only self-signed certificates ever accepted. */
  founders: ReadonlySet<string>;
  /** Wall-clock ms until which founders' self-signed certificates are accepted; 0 = never (not a new cluster). */
  foundingUntil: number;
  now: () => number;
  registry: Registry;
  logger: Logger;
}

/**
 * Who may make peer calls: a TLS peer whose certificate names a node of this cluster and is issued by the mesh
 * CA, or, inside the founding window of a new cluster, a founding member's self-signed certificate (the CA does
 * not exist before the founders have elected a leader). The verdict is taken once per connection, when it is
 * established, and holds for the connection's life: a stream accepted in the window is not cut when it ends.
 */
export class PeerAuth {
  readonly #o: PeerAuthOptions;
  readonly #verdicts = new Map<string, PeerVerdict>();
  readonly #refusals: Counter<"rpc" | "reason">;
  readonly #logged = new Set<string>();
  #clientContext: { material: object; context: SecureContext } | undefined;

  constructor(o: PeerAuthOptions) {
    this.#o = o;
    this.#refusals = new Counter({
      name: "meshlet_control_peer_refusals_total",
      help: "Peer calls (Raft, lease renewals, sidecar lists) refused for want of a node certificate of this cluster, and peers this node refused to dial, by rpc and reason",
      labelNames: ["rpc", "reason"],
      registers: [o.registry],
    });
  }

  /** Whether the founding window is still open (self-signed founders accepted on new connections). */
  foundingOpen(): boolean {
    return this.#o.now() < this.#o.foundingUntil;
  }

  /** The verdict on the certificate `socket`'s other end presented (either direction). */
  judge(socket: TLSSocket): PeerVerdict {
    const cert = socket.getPeerX509Certificate();
    if (cert === undefined) return { ok: false, reason: "no_certificate" };
    const name = nodeNameOf(cert);
    if (name === undefined) return { ok: false, reason: "not_node_certificate" };
    if (name.clusterId !== this.#o.identity.name.clusterId) return { ok: false, reason: "other_cluster" };
    const knowsCa = this.#o.identity.material().bundlePem !== undefined;
    if (knowsCa && socket.authorized) return { ok: true, nodeId: name.nodeId, via: "mesh_ca" };
    // A founder that already applied the CA presents the CA's certificate; a founder that has not yet cannot
    // verify it, and would refuse the very leader whose log carries the CA (the cluster never formed). In the
    // window that certificate is taken as a self-signed one is: anyone can make either for a founder's name.
    if (this.foundingOpen() && this.#o.founders.has(name.nodeId) && (isSelfSigned(cert) || !knowsCa))
      return { ok: true, nodeId: name.nodeId, via: "founding" };
    return { ok: false, reason: "untrusted_issuer" };
  }

  /** The node a call's connection authenticated as (the guard already refused calls without a verdict). */
  senderOf(call: { getPeer(): string }): string | undefined {
    const verdict = this.#verdicts.get(call.getPeer());
    return verdict?.ok === true ? verdict.nodeId : undefined;
  }

  /** A client connected to the gRPC port: its verdict is kept until it closes (peer calls are checked on it). */
  remember(socket: TLSSocket): void {
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    this.#verdicts.set(key, this.judge(socket));
    socket.once("close", () => {
      this.#verdicts.delete(key);
      this.#logged.delete(key);
    });
  }

  /** Adds services with every peer method behind the connection's verdict. */
  guard(addService: AddService): AddService {
    return (service, implementation) => {
      const guarded: typeof implementation = {};
      for (const [name, handler] of Object.entries(implementation)) {
        const rpc = PEER_RPCS.get(service[name]?.path ?? name);
        guarded[name] = rpc === undefined ? handler : this.#guarded(rpc, handler);
      }
      addService(service, guarded);
    };
  }

  /** Credentials for calling peers: this node's certificate, and the peer's checked as a listener checks ours. */
  credentials(): TlsChannelCredentials {
    return new TlsChannelCredentials(
      () => ({ secureContext: this.#context(), minVersion: "TLSv1.3" }),
      (socket) => {
        const verdict = this.judge(socket);
        if (verdict.ok) return undefined;
        this.#refusals.inc({ rpc: "dial", reason: verdict.reason });
        return `the peer's certificate is refused (${verdict.reason}): not a node of this cluster under the mesh CA`;
      },
    );
  }

  #context(): SecureContext {
    const material = this.#o.identity.material();
    if (this.#clientContext?.material !== material) {
      const { keyPem, certChainPem, bundlePem } = material;
      const context = createSecureContext({
        key: keyPem,
        cert: certChainPem,
        ...(bundlePem === undefined ? {} : { ca: bundlePem }),
        minVersion: "TLSv1.3",
      });
      this.#clientContext = { material, context };
    }
    return this.#clientContext.context;
  }

  #guarded(rpc: string, handler: UntypedHandleCall): UntypedHandleCall {
    const wrapped = (
      call: { getPeer(): string; emit(event: "error", e: unknown): boolean },
      callback?: (e: unknown) => void,
    ) => {
      const peer = call.getPeer();
      const verdict = this.#verdicts.get(peer) ?? { ok: false, reason: "no_certificate" };
      if (verdict.ok) {
        (handler as (c: unknown, cb?: unknown) => void)(call, callback);
        return;
      }
      this.#refusals.inc({ rpc, reason: verdict.reason });
      if (!this.#logged.has(peer)) {
        this.#logged.add(peer);
        this.#o.logger.warn(
          { peer, rpc, reason: verdict.reason },
          "peer call refused: no node certificate of this cluster",
        );
      }
      const refusal = peerRefusal(rpc, verdict.reason);
      if (callback !== undefined) callback(refusal);
      else call.emit("error", refusal);
    };
    return wrapped as unknown as UntypedHandleCall;
  }
}

function peerRefusal(rpc: string, reason: PeerRefusal): ServerErrorResponse {
  const metadata = new Metadata();
  metadata.set("x-meshlet-error-code", "ERR_PEER_UNAUTHENTICATED");
  const message = `${rpc} is a peer call: it needs a control-plane node certificate of this cluster (${reason})`;
  return Object.assign(new Error(message), { code: status.UNAUTHENTICATED, details: message, metadata });
}

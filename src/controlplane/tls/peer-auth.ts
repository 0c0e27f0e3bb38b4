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

/**
 * Every method of the Raft service is a peer call, listed above or not: a method added to the proto later is
 * refused to anyone without a member's certificate until it is listed (its metric label is then its own).
 */
const RAFT_SERVICE = "/meshlet.raft.v1.Raft/";
const UNLISTED_RAFT_RPC = "raft_other";

/** The metric label of a peer method, or undefined for a method that is not a peer call. */
export function peerRpcOf(path: string): string | undefined {
  return PEER_RPCS.get(path) ?? (path.startsWith(RAFT_SERVICE) ? UNLISTED_RAFT_RPC : undefined);
}

export type PeerRefusal =
  | "no_certificate"
  | "not_node_certificate"
  | "other_cluster"
  | "untrusted_issuer"
  /** A node certificate of this cluster for a node that is not (or no longer) a member. */
  | "not_member"
  /** Dialling: the certificate names another node than the one dialled. */
  | "wrong_node";

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
  /**
   * Whether a node is a member of the applied Raft configuration (or being added): only members' certificates
   * are taken, so removing a member cuts it off without a revocation list.
   */
  isMember: (nodeId: string) => boolean;
  registry: Registry;
  logger: Logger;
}

/**
 * Who may make peer calls: a TLS peer whose certificate names a node of this cluster and is issued by the mesh
 * CA, or, inside the founding window of a new cluster, a founding member's self-signed certificate (the CA does
 * not exist before the founders have elected a leader). Who the certificate names is judged once per connection,
 * when it is established (a stream accepted in the window is not cut when it ends); whether that node is a member
 * is checked at every call, and `enforceMembership` closes the connections of nodes that no longer are.
 */
export class PeerAuth {
  readonly #o: PeerAuthOptions;
  readonly #connections = new Map<string, { socket: TLSSocket; verdict: PeerVerdict }>();
  readonly #refusals: Counter<"rpc" | "reason">;
  readonly #logged = new Set<string>();
  #clientContext: { material: object; context: SecureContext } | undefined;

  constructor(o: PeerAuthOptions) {
    this.#o = o;
    this.#refusals = new Counter({
      name: "meshlet_control_peer_refusals_total",
      help: "Peer calls (Raft, lease renewals, sidecar lists) refused for want of a node certificate of a member of this cluster, peers this node refused to dial (rpc dial), and connections closed when their node stopped being a member (rpc connection), by rpc and reason",
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

  /** The verdict on a call's connection: its certificate's, then whether the node it names is a member now. */
  verdictOf(call: { getPeer(): string }): PeerVerdict {
    const verdict = this.#connections.get(call.getPeer())?.verdict ?? { ok: false, reason: "no_certificate" };
    return verdict.ok && !this.#o.isMember(verdict.nodeId) ? { ok: false, reason: "not_member" } : verdict;
  }

  /** The node a call's connection authenticated as (the guard already refused calls without a verdict). */
  senderOf(call: { getPeer(): string }): string | undefined {
    const verdict = this.verdictOf(call);
    return verdict.ok ? verdict.nodeId : undefined;
  }

  /** A client connected to the gRPC port: its verdict is kept until it closes (peer calls are checked on it). */
  remember(socket: TLSSocket): void {
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    this.#connections.set(key, { socket, verdict: this.judge(socket) });
    socket.once("close", () => {
      this.#connections.delete(key);
      this.#logged.delete(key);
    });
  }

  /**
   * The membership changed: the open connections of nodes that are no longer members are closed (a stream
   * accepted before would otherwise keep delivering), counted as refusals of rpc "connection".
   */
  enforceMembership(): void {
    for (const [key, { socket, verdict }] of this.#connections) {
      if (!verdict.ok || this.#o.isMember(verdict.nodeId)) continue;
      this.#connections.delete(key);
      this.#refusals.inc({ rpc: "connection", reason: "not_member" });
      this.#o.logger.warn(
        { peer: key, node: verdict.nodeId },
        "closing the connection of a node that is no longer a member",
      );
      socket.destroy();
    }
  }

  /** Adds services with every peer method (all of the Raft service's) behind the connection's verdict. */
  guard(addService: AddService): AddService {
    return (service, implementation) => {
      const guarded: typeof implementation = {};
      for (const [name, handler] of Object.entries(implementation)) {
        const rpc = peerRpcOf(service[name]?.path ?? name);
        guarded[name] = rpc === undefined ? handler : this.#guarded(rpc, handler);
      }
      addService(service, guarded);
    };
  }

  /**
   * Credentials for calling peers: this node's certificate, and the peer's checked as a listener checks ours.
   * With `expected`, the certificate must also name that node: an address is not an identity, and a member
   * answering at another's address (a stale DNS record, a hijacked IP) would otherwise be taken for it.
   */
  credentials(expected?: string): TlsChannelCredentials {
    return new TlsChannelCredentials(
      () => ({ secureContext: this.#context(), minVersion: "TLSv1.3" }),
      (socket) => {
        const verdict = this.judge(socket);
        if (verdict.ok && (expected === undefined || verdict.nodeId === expected)) return undefined;
        const reason = verdict.ok ? "wrong_node" : verdict.reason;
        this.#refusals.inc({ rpc: "dial", reason });
        return verdict.ok
          ? `the peer's certificate names node ${verdict.nodeId}, not ${String(expected)} that was dialled (wrong_node)`
          : `the peer's certificate is refused (${reason}): not a node of this cluster under the mesh CA`;
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
      const verdict = this.verdictOf(call);
      if (verdict.ok) {
        (handler as (c: unknown, cb?: unknown) => void)(call, callback);
        return;
      }
      this.#refusals.inc({ rpc, reason: verdict.reason });
      if (!this.#logged.has(peer)) {
        this.#logged.add(peer);
        this.#o.logger.warn(
          { peer, rpc, reason: verdict.reason },
          "peer call refused: no node certificate of a member of this cluster",
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
  const message = `${rpc} is a peer call: it needs a control-plane node certificate of a member of this cluster (${reason})`;
  return Object.assign(new Error(message), { code: status.UNAUTHENTICATED, details: message, metadata });
}

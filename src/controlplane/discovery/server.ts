import { Metadata, type ServerDuplexStream, status } from "@grpc/grpc-js";
import type { Clock, TimerHandle } from "../../common/clock.ts";
import { errorCode, errorMessage } from "../../common/errors.ts";
import { fingerprint } from "../../common/hash.ts";
import type { Logger } from "../../common/logger.ts";
import { METRIC_PREFIX } from "../../common/metrics.ts";
import { Counter, Gauge, type Registry } from "../../common/prom.ts";
import { discoveryProto } from "../../config/discovery-proto.ts";
import { isNamespace, isServiceAccountName, type ServiceAccountRef } from "../../config/kube-names.ts";
import type { CertificateRequest__Output as CsrRequest } from "../../gen/meshlet/discovery/v1/CertificateRequest.ts";
import type { ConfigUpdate } from "../../gen/meshlet/discovery/v1/ConfigUpdate.ts";
import type { DiscoveryHandlers } from "../../gen/meshlet/discovery/v1/Discovery.ts";
import type { DiscoveryRequest__Output } from "../../gen/meshlet/discovery/v1/DiscoveryRequest.ts";
import type { DiscoveryResponse } from "../../gen/meshlet/discovery/v1/DiscoveryResponse.ts";
import type { Hello__Output } from "../../gen/meshlet/discovery/v1/Hello.ts";
import type { Register__Output } from "../../gen/meshlet/discovery/v1/Register.ts";
import type { TrustBundle as TrustBundleWire } from "../../gen/meshlet/discovery/v1/TrustBundle.ts";
import { spiffeIdFor, type WorkloadName } from "../../security/spiffe.ts";
import { principalOf, reauthenticate, serviceDenial } from "../auth/grpc-access.ts";
import type { ConfigFeed } from "../config/feed.ts";
import {
  DEFAULT_LEASE_TTL_MS,
  leaseIdFor,
  type RegisteredEndpoint,
  type RegistryCommand,
  validateEndpoint,
} from "../registry/commands.ts";
import type { NodeView, SidecarConfigView, SidecarView } from "../resources/api-types.ts";
import { entitle, type IdentityClaim } from "../security/entitlement.ts";
import { storedBytes } from "../state/value.ts";
import { ADDRESS_NOT_CALLER, callerAddressDenial, type RegistrationAddressMode } from "./caller-address.ts";
import { ConfigDelivery } from "./config-delivery.ts";
import { EncodedSnapshot } from "./encoded-snapshot.ts";
import { SidecarLoad } from "./load-reports.ts";
import { PushQueue } from "./push-queue.ts";
import type { ScopeRequest } from "./scope.ts";
import { DEFAULT_DEBOUNCE_MS, type SessionInfo, SidecarSession } from "./session.ts";
import { type MeshState, type PreparedState, prepareState, type ScopedSnapshot, scopedSnapshot } from "./snapshot.ts";

/** What the Discovery service needs from the control-plane node it runs in. */
export interface MeshSource {
  readonly nodeId: string;
  /** This node's applied mesh state (followers serve from their own). */
  state(): MeshState;
  /** Calls `listener` after this node applied entries that changed mesh keys; returns an unsubscribe. */
  onChange(listener: () => void): () => void;
  /** Proposes a registry command through Raft; resolves once applied, with the entry's revision. */
  propose(command: RegistryCommand): Promise<{ revision: number }>;
  /** Renews a lease on the leader (forwarded there from a follower); false when the leader does not know it. */
  renew(leaseId: string): Promise<boolean>;
  /** Renews leases in this node's own lease keeper (the RenewLeases RPC a follower sends to the leader). */
  renewLocal(leaseIds: readonly string[]): { leader: boolean; unknown: string[] };
  /** This node's Raft view, sent with its sidecars to the node that asks (ListSidecars). */
  describe(): NodeView;
}

export interface DiscoveryOptions {
  clock: Clock;
  logger: Logger;
  registry: Registry;
  debounceMs?: number;
  /** A stream must say hello within this long, or it is closed. */
  helloTimeoutMs?: number;
  /** The app config sidecars get with their snapshots (Service spec.config); none when absent. */
  config?: ConfigFeed;
  /** The mesh CA: answers CertificateRequests, pushes trust bundles. None = sidecars get no identity. */
  certificates?: CertificateIssuer;
  /** Which addresses a caller may register (caller-address.ts); default `peer`, its connection's own. */
  registrationAddress?: RegistrationAddressMode;
}

/** What the discovery stream needs of the mesh CA (controlplane/security/mesh-ca.ts). */
export interface CertificateIssuer {
  /** Signs `name`'s SPIFFE ID; the stream already checked the sidecar is entitled to it (entitlement.ts). */
  issueWorkload(name: WorkloadName, csrPem: string): Promise<{ certChainPem: string; bundle: TrustBundle }>;
  onChange(listener: (bundle: TrustBundle) => void): () => void;
}

const DEFAULT_HELLO_TIMEOUT_MS = 10_000;
/** A status report larger than this is dropped (and counted), not stored. */
const MAX_STATUS_BYTES = 64 * 1024;

type Call = ServerDuplexStream<DiscoveryRequest__Output, DiscoveryResponse>;

/**
 * meshlet.discovery.v1.Discovery on one control-plane node: a SidecarSession
 * per stream, fed from this node's applied state. The state is decoded once
 * per change and each distinct scope is built once per change, so a thousand
 * sidecars of a few services cost a few snapshot builds, not a thousand.
 */
export class DiscoveryServer {
  readonly #source: MeshSource;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #queue: PushQueue;
  readonly #helloTimeoutMs: number;
  readonly #sessions = new Map<Call, SidecarSession>();
  /** The identity each stream's certificate carries, decided at its hello; told to the sidecar with each bundle. */
  readonly #identities = new WeakMap<Call, WorkloadName>();
  /** Each stream's last status as sent, and its load reports; in memory only, gone with the stream. */
  readonly #status = new WeakMap<SidecarSession, { raw: unknown; load: SidecarLoad }>();
  /** When each session's latest push was sent (clock ms), for the age of what is still unanswered. */
  readonly #pushedAt = new WeakMap<SidecarSession, number>();
  readonly #unsubscribe: () => void;
  readonly #config: ConfigFeed | undefined;
  readonly #unsubscribeConfig: () => void;
  readonly #certificates: CertificateIssuer | undefined;
  readonly #registrationAddress: RegistrationAddressMode;
  readonly #unsubscribeBundle: () => void;
  #bundle: TrustBundle | undefined;
  #state: PreparedState | undefined;
  #scoped = new Map<string, ScopedSnapshot>();
  readonly #encodedByScope = new WeakMap<ScopedSnapshot, EncodedSnapshot>();
  /** A stream's scope request is fixed at its hello: its cache key is made once, not at every push. */
  readonly #scopeKeys = new WeakMap<ScopeRequest, string>();
  readonly #serializeResponse = discoveryProto().meshlet.discovery.v1.Discovery.service.Stream.responseSerialize;
  readonly #metrics: {
    streams: Gauge;
    pushes: Counter;
    nacks: Counter<"repeated">;
    rejected: Counter<"reason">;
    registryErrors: Counter<"code">;
  };

  constructor(source: MeshSource, options: DiscoveryOptions) {
    this.#source = source;
    this.#clock = options.clock;
    this.#log = options.logger.child({ subsystem: "discovery" });
    this.#queue = new PushQueue({ clock: options.clock, debounceMs: options.debounceMs ?? DEFAULT_DEBOUNCE_MS });
    this.#helloTimeoutMs = options.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS;
    this.#registrationAddress = options.registrationAddress ?? "peer";
    const registers = [options.registry];
    this.#metrics = {
      streams: new Gauge({
        name: `${METRIC_PREFIX}discovery_streams`,
        help: "Sidecar discovery streams open on this node",
        registers,
      }),
      pushes: new Counter({
        name: `${METRIC_PREFIX}discovery_pushes_total`,
        help: "Snapshots pushed to sidecars",
        registers,
      }),
      nacks: new Counter({
        name: `${METRIC_PREFIX}discovery_nacks_total`,
        help: "Snapshots rejected by sidecars; repeated=true when the sidecar rejected the previous one too",
        labelNames: ["repeated"],
        registers,
      }),
      rejected: new Counter({
        name: `${METRIC_PREFIX}discovery_rejected_total`,
        help: "Discovery messages rejected, by reason (a bad or missing hello also closes the stream)",
        labelNames: ["reason"],
        registers,
      }),
      registryErrors: new Counter({
        name: `${METRIC_PREFIX}discovery_registry_errors_total`,
        help: "Register, deregister or renew requests that failed",
        labelNames: ["code"],
        registers,
      }),
    };
    const sessions = () => this.#sessions.values();
    const pushedAt = this.#pushedAt;
    const clock = this.#clock;
    new Gauge({
      name: `${METRIC_PREFIX}discovery_sidecars`,
      help: "Sidecars streaming from this node, by the state of the latest snapshot pushed: acked, pending (no answer yet) or rejecting (NACKed)",
      labelNames: ["state"],
      registers,
      collect() {
        const counts = { acked: 0, pending: 0, rejecting: 0 };
        for (const s of sessions()) counts[sidecarState(s.info)]++;
        for (const [state, n] of Object.entries(counts)) this.labels(state).set(n);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}discovery_oldest_unanswered_push_seconds`,
      help: "Age of the oldest snapshot pushed from this node that its sidecar has neither ACKed nor NACKed (0: none)",
      registers,
      collect() {
        let oldest = 0;
        for (const s of sessions()) {
          const at = pushedAt.get(s);
          if (at !== undefined && sidecarState(s.info) === "pending") oldest = Math.max(oldest, clock.now() - at);
        }
        this.set(oldest / 1000);
      },
    });
    this.#unsubscribe = source.onChange(() => {
      this.#state = undefined;
      this.#scoped = new Map();
      for (const session of this.#sessions.values()) session.changed();
    });
    this.#config = options.config;
    // A config change leaves the mesh state (and its cached snapshots) as it is: sessions only diff their config.
    this.#certificates = options.certificates;
    this.#unsubscribeBundle =
      options.certificates?.onChange((bundle) => {
        this.#bundle = bundle;
        for (const call of this.#sessions.keys())
          call.write({ trustBundle: wireBundle(bundle, this.#identities.get(call)) });
      }) ?? (() => {});
    this.#unsubscribeConfig =
      this.#config?.onChange(() => {
        for (const session of this.#sessions.values()) session.changed();
      }) ?? (() => {});
  }

  handlers(): DiscoveryHandlers {
    return {
      Stream: (call) => this.#stream(call),
      RegisterInstance: (call, callback) => {
        const forbidden = this.#forbidden(call, call.request.endpoint?.service ?? "");
        if (forbidden !== undefined) return callback(forbidden);
        const notCaller = this.#addressDenial(call, call.request.endpoint?.address ?? "");
        if (notCaller !== undefined) {
          this.#metrics.rejected.inc({ reason: "address_not_caller" });
          this.#log.warn({ reason: "address_not_caller", details: notCaller }, "discovery call refused");
          return callback(addressRefusal(notCaller));
        }
        const namespace = unaryNamespace(call, call.request.endpoint?.namespace ?? "");
        if (typeof namespace === "object") {
          this.#metrics.rejected.inc({ reason: "wrong_namespace" });
          this.#log.warn({ reason: "wrong_namespace", details: namespace.refused }, "discovery call refused");
          return callback({ code: status.PERMISSION_DENIED, details: namespace.refused });
        }
        this.#register(call.request, namespace)
          .then((revision) => callback(null, { revision }))
          .catch((err: unknown) => callback({ code: grpcStatus(err), details: errorMessage(err) }));
      },
      RenewLeases: (call, callback) => {
        callback(null, this.#source.renewLocal(call.request.leaseIds));
      },
      ListSidecars: (call, callback) => {
        const key = call.request.configKey === "" ? undefined : call.request.configKey;
        callback(null, { json: JSON.stringify(this.sidecars(key)), node: JSON.stringify(this.#source.describe()) });
      },
      DeregisterInstance: (call, callback) => {
        const forbidden = this.#forbidden(call, call.request.service);
        if (forbidden !== undefined) return callback(forbidden);
        this.#source
          .propose({ type: "mesh.deregister", service: call.request.service, instance: call.request.instance })
          .then(({ revision }) => callback(null, { revision }))
          .catch((err: unknown) => callback({ code: grpcStatus(err), details: errorMessage(err) }));
      },
    };
  }

  /** This node's sidecars; with `configKey`, each says what it holds of that app-config key. */
  sidecars(configKey?: string): SidecarView[] {
    const now = this.#clock.now();
    return [...this.#sessions.values()].map((session) => {
      const { info } = session;
      const status = this.#status.get(session);
      return {
        config: configView(session.config, configKey),
        id: info.id,
        service: info.service,
        instance: info.instance,
        node: this.#source.nodeId,
        lastPushedVersion: info.lastPushedVersion,
        lastAckedVersion: info.lastAckedVersion,
        lastNack: info.lastNack ?? null,
        status: status?.raw ?? null,
        traffic: status?.load.window(now) ?? null,
      };
    });
  }

  /** Ends every stream (sidecars reconnect elsewhere) and stops listening for changes. */
  close(): void {
    this.#unsubscribe();
    this.#unsubscribeConfig();
    this.#unsubscribeBundle();
    this.#queue.close();
    for (const [call, session] of this.#sessions) {
      session.close();
      call.end();
    }
    this.#sessions.clear();
    this.#metrics.streams.set(0);
  }

  #prepared(): PreparedState {
    this.#state ??= prepareState(this.#source.state());
    return this.#state;
  }

  /** The accounts a Service lists, from this node's applied state. */
  readonly #accountsOf = (service: string): readonly ServiceAccountRef[] | undefined =>
    this.#prepared().serviceAccounts.get(service);

  #current(request: ScopeRequest): ScopedSnapshot {
    const state = this.#prepared();
    let key = this.#scopeKeys.get(request);
    if (key === undefined) {
      key = `${request.service}\n${[...request.subscribe].sort().join(",")}`;
      this.#scopeKeys.set(request, key);
    }
    let scoped = this.#scoped.get(key);
    if (scoped === undefined) {
      scoped = scopedSnapshot(state, request);
      this.#scoped.set(key, scoped);
    }
    return scoped;
  }

  /** The scope's snapshot as bytes, encoded at its first push and kept as long as the scoped snapshot is. */
  #encoded(scoped: ScopedSnapshot): EncodedSnapshot {
    let encoded = this.#encodedByScope.get(scoped);
    if (encoded === undefined) {
      encoded = new EncodedSnapshot(scoped.snapshot, this.#serializeResponse);
      this.#encodedByScope.set(scoped, encoded);
    }
    return encoded;
  }

  #stream(call: Call): void {
    let session: SidecarSession | undefined;
    let registered: { endpoint: RegisteredEndpoint; ttlMs: number } | undefined;
    let helloTimer: TimerHandle | undefined = this.#clock.setTimeout(
      () => reject("hello_timeout", "no hello received"),
      this.#helloTimeoutMs,
    );
    const cleanup = () => {
      if (helloTimer !== undefined) this.#clock.clearTimeout(helloTimer);
      helloTimer = undefined;
      if (session !== undefined) {
        session.close();
        this.#sessions.delete(call);
        this.#metrics.streams.set(this.#sessions.size);
        // The lease stays: the sidecar may be reconnecting to another node, and expiry removes it otherwise.
        this.#log.info({ sidecar: session.info.id }, "sidecar stream closed");
        session = undefined;
      }
    };
    const reject = (reason: string, details: string, code = status.INVALID_ARGUMENT, metadata?: Metadata) => {
      this.#metrics.rejected.inc({ reason });
      this.#log.warn({ reason, details }, "discovery stream rejected");
      cleanup();
      call.emit("error", { code, details, ...(metadata === undefined ? {} : { metadata }) });
    };
    /** A Kubernetes service-account token (--k8s-token-keys) names the account; it decides the identity. */
    const tokenAccount = principalOf(call)?.account;
    let claim: IdentityClaim | undefined;
    /** The namespace of the identity the hello was entitled to: stamped on every endpoint the stream registers. */
    let streamNamespace: string | undefined;
    /**
     * A sidecar token acts for its own service only, a Kubernetes token for the service its hello was entitled to:
     * another one closes the stream.
     */
    const wrongService = (service: string): boolean => {
      const why =
        tokenAccount === undefined
          ? serviceDenial(call, service)
          : service === claim?.service
            ? undefined
            : `a Kubernetes service-account token acts for the service of its hello ("${claim?.service ?? ""}"), not "${service}"`;
      if (why !== undefined) reject("wrong_service", why, status.PERMISSION_DENIED);
      return why !== undefined;
    };

    call.on("data", (req: DiscoveryRequest__Output) => {
      if (session === undefined) {
        const hello = req.kind === "hello" ? req.hello : undefined;
        if (hello === undefined || hello === null) return reject("no_hello", "the first message must be a hello");
        if (hello.nodeId === "" || hello.service === "") {
          return reject("no_identity", "hello needs a node id and a service");
        }
        const account = helloAccount(hello);
        if (typeof account === "string") return reject("bad_hello", account);
        if (tokenAccount === undefined && wrongService(hello.service)) return;
        claim = { service: hello.service, account };
        const entitled = entitle(claim, tokenAccount, this.#accountsOf);
        if (!entitled.ok) return reject("wrong_identity", entitled.message, status.PERMISSION_DENIED);
        this.#identities.set(call, entitled.name);
        streamNamespace = "namespace" in entitled.name ? entitled.name.namespace : undefined;
        if (helloTimer !== undefined) this.#clock.clearTimeout(helloTimer);
        helloTimer = undefined;
        const instance = hello.instance === "" ? hello.nodeId : hello.instance;
        const feed = this.#config;
        const config =
          feed === undefined
            ? undefined
            : {
                delivery: new ConfigDelivery(
                  feed,
                  { service: hello.service, instance, labels: hello.labels },
                  hello.configRevision,
                  () => session?.changed(),
                ),
                send: (update: ConfigUpdate) => call.write({ config: update }),
              };
        session = new SidecarSession(
          { id: hello.nodeId, service: hello.service, instance, lastVersion: hello.lastVersion },
          { service: hello.service, subscribe: hello.subscribe },
          {
            queue: this.#queue,
            current: (request) => this.#current(request),
            send: (scoped, nonce) => {
              this.#metrics.pushes.inc();
              if (session !== undefined) this.#pushedAt.set(session, this.#clock.now());
              // Bytes, not a message: the Stream method's serializer passes them through (discovery-proto.ts).
              call.write(this.#encoded(scoped).withNonce(nonce) as unknown as DiscoveryResponse);
            },
            ...(config === undefined ? {} : { config }),
            onNack: (info, consecutive) => {
              this.#metrics.nacks.inc({ repeated: String(consecutive > 1) });
              // Logged once per rejected version; the session never resends it.
              this.#log.warn(
                { sidecar: info.id, version: info.lastNack?.version, error: info.lastNack?.error, consecutive },
                "sidecar rejected a snapshot",
              );
            },
          },
        );
        this.#sessions.set(call, session);
        this.#metrics.streams.set(this.#sessions.size);
        this.#log.info({ sidecar: hello.nodeId, service: hello.service }, "sidecar stream opened");
        if (this.#bundle !== undefined) call.write({ trustBundle: wireBundle(this.#bundle, entitled.name) });
        session.start();
        return;
      }
      switch (req.kind) {
        case "ack":
          if (req.ack) session.ack(req.ack.version, req.ack.nonce);
          return;
        case "nack":
          if (req.nack) session.nack(req.nack.version, req.nack.nonce, req.nack.error);
          return;
        case "register":
          if (req.register) {
            const reg = req.register;
            if (wrongService(reg.endpoint?.service ?? "")) return;
            const notCaller = this.#addressDenial(call, reg.endpoint?.address ?? "");
            if (notCaller !== undefined) {
              const { code, details, metadata } = addressRefusal(notCaller);
              return reject("address_not_caller", details, code, metadata);
            }
            const claimed = reg.endpoint?.namespace ?? "";
            if (claimed !== "" && claimed !== streamNamespace)
              return reject(
                "wrong_namespace",
                `register names namespace "${claimed}" but this stream's identity is ${streamNamespace === undefined ? "in no namespace" : `in namespace "${streamNamespace}"`}: the control plane sets an endpoint's namespace from the stream`,
                status.PERMISSION_DENIED,
              );
            const namespace = streamNamespace;
            this.#register(reg, namespace).then(
              () => {
                registered = { endpoint: toEndpoint(reg, namespace), ttlMs: ttlOf(reg) };
              },
              (err: unknown) => this.#registryFailed("register", err),
            );
          }
          return;
        case "heartbeat":
          if (registered !== undefined) void this.#heartbeat(registered.endpoint, registered.ttlMs);
          return;
        case "deregister":
          if (req.deregister) {
            if (wrongService(req.deregister.service)) return;
            registered = undefined;
            this.#source
              .propose({ type: "mesh.deregister", service: req.deregister.service, instance: req.deregister.instance })
              .catch((err: unknown) => this.#registryFailed("deregister", err));
          }
          return;
        case "status":
          if (req.status) this.#recordStatus(session, req.status.json);
          return;
        case "configAck":
          if (req.configAck) session.configAck(req.configAck.revision);
          return;
        case "certificateRequest":
          if (req.certificateRequest && claim !== undefined)
            this.#issue(call, claim, tokenAccount, req.certificateRequest);
          return;
        case "hello":
          return reject("second_hello", "hello may be sent only once per stream");
        default:
          return;
      }
    });
    call.on("end", () => {
      cleanup();
      call.end();
    });
    call.on("error", cleanup);
    call.on("cancelled", cleanup);
  }

  /**
   * Refusals are counted and logged by the issuer; the sidecar gets the code and message on its stream. The
   * entitlement is checked again against the state of now: an operator who removed an account from a Service's
   * spec.serviceAccounts stops its renewals, whatever the hello was allowed. So is the stream's token: one
   * expired or revoked since the stream opened gets no certificate, and the stream is closed.
   */
  #issue(call: Call, claim: IdentityClaim, tokenAccount: ServiceAccountRef | undefined, req: CsrRequest): void {
    const requestId = req.requestId;
    reauthenticate(call).then(
      () => this.#issueEntitled(call, claim, tokenAccount, req),
      (err: unknown) => {
        this.#log.warn({ code: errorCode(err), details: errorMessage(err) }, "certificate request refused");
        call.write({ certificate: { errorCode: errorCode(err), error: errorMessage(err), requestId } });
        call.emit("error", { code: status.UNAUTHENTICATED, details: errorMessage(err) });
      },
    );
  }

  /** Every answer echoes the request's id (0 for an older sidecar's), refusals included. */
  #issueEntitled(call: Call, claim: IdentityClaim, tokenAccount: ServiceAccountRef | undefined, req: CsrRequest): void {
    const requestId = req.requestId;
    const issuer = this.#certificates;
    if (issuer === undefined) {
      call.write({
        certificate: { errorCode: "ERR_CA_UNAVAILABLE", error: "this control plane issues no certificates", requestId },
      });
      return;
    }
    const entitled = entitle(claim, tokenAccount, this.#accountsOf);
    if (!entitled.ok) {
      this.#metrics.rejected.inc({ reason: "wrong_identity" });
      this.#log.warn({ reason: "wrong_identity", details: entitled.message }, "certificate request refused");
      call.write({ certificate: { errorCode: "ERR_CSR_IDENTITY", error: entitled.message, requestId } });
      return;
    }
    const name = entitled.name;
    issuer.issueWorkload(name, req.csrPem).then(
      ({ certChainPem, bundle }) =>
        call.write({ certificate: { certChainPem, trustBundle: wireBundle(bundle, name), requestId } }),
      (err: unknown) => {
        // A CSR for another identity than the stream's is a wrong-identity message like an unentitled one above
        // (the issuer counted and logged the refusal itself).
        if (errorCode(err) === "ERR_CSR_IDENTITY") this.#metrics.rejected.inc({ reason: "wrong_identity" });
        call.write({ certificate: { errorCode: errorCode(err), error: errorMessage(err), requestId } });
      },
    );
  }

  /** The refusal of a unary call for another service than its sidecar token's, counted; undefined when allowed. */
  #forbidden(call: object, service: string): { code: status; details: string } | undefined {
    const principal = principalOf(call);
    const account = principal?.account;
    const entitled = account === undefined ? undefined : entitle({ service }, account, this.#accountsOf);
    let why = entitled === undefined ? serviceDenial(call, service) : entitled.ok ? undefined : entitled.message;
    // A sidecar token without an account acts for a Service that lists accounts as little on a unary call as on
    // its stream: its endpoint would carry no namespace, and callers would dial it with the mesh-wide mode.
    if (why === undefined && entitled === undefined && principal?.role === "sidecar") {
      const bare = entitle({ service }, undefined, this.#accountsOf);
      if (!bare.ok) why = bare.message;
    }
    if (why === undefined) return undefined;
    this.#metrics.rejected.inc({ reason: "wrong_service" });
    this.#log.warn({ reason: "wrong_service", details: why }, "discovery call refused");
    return { code: status.PERMISSION_DENIED, details: why };
  }

  /**
   * Why `call` may not register `address` (caller-address.ts). An admin token is not held to it: it may declare
   * any address anyway (a Service's spec.endpoints), and registers instances that have no sidecar.
   */
  #addressDenial(call: { getPeer(): string }, address: string): string | undefined {
    if (principalOf(call)?.role === "admin") return undefined;
    return callerAddressDenial(this.#registrationAddress, call.getPeer(), address);
  }

  #recordStatus(session: SidecarSession, json: string): void {
    if (json.length > MAX_STATUS_BYTES) {
      this.#metrics.rejected.inc({ reason: "status_too_large" });
      return;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch {
      this.#metrics.rejected.inc({ reason: "status_not_json" });
      return;
    }
    let status = this.#status.get(session);
    if (status === undefined) {
      status = { raw, load: new SidecarLoad() };
      this.#status.set(session, status);
    }
    status.raw = raw;
    // Any JSON is shown as the sidecar's status; only a load report in the known shape gives rates.
    if (!status.load.record(raw, this.#clock.now())) this.#metrics.rejected.inc({ reason: "status_not_a_report" });
  }

  async #register(reg: Register__Output, namespace: string | undefined): Promise<number> {
    const endpoint = toEndpoint(reg, namespace);
    validateEndpoint(endpoint);
    const { revision } = await this.#source.propose({ type: "mesh.register", endpoint, ttlMs: ttlOf(reg) });
    return revision;
  }

  async #heartbeat(endpoint: RegisteredEndpoint, ttlMs: number): Promise<void> {
    try {
      // Unknown to the leader: the lease expired, so grant it again rather than leave the instance out.
      if (!(await this.#source.renew(endpoint.leaseId))) {
        await this.#source.propose({ type: "mesh.register", endpoint, ttlMs });
      }
    } catch (err) {
      this.#registryFailed("renew", err);
    }
  }

  #registryFailed(op: string, err: unknown): void {
    const code = errorCode(err);
    this.#metrics.registryErrors.inc({ code });
    this.#log.warn({ op, code, err: errorMessage(err) }, "registry request failed");
  }
}

/** Where a sidecar stands with the latest snapshot this node pushed it. */
export interface TrustBundle {
  bundlePem: string;
  /** The CA certificates that issue workload certificates (mesh-ca.ts CurrentCa). */
  issuersPem: string;
  revision: number;
  trustDomain: string;
}

function wireBundle(b: TrustBundle, name: WorkloadName | undefined): TrustBundleWire {
  const identity = name === undefined ? "" : spiffeIdFor(b.trustDomain, name);
  return { pem: b.bundlePem, revision: b.revision, trustDomain: b.trustDomain, identity, issuersPem: b.issuersPem };
}

/** The hello's account: both fields or neither, each a valid Kubernetes name; a message when not. */
function helloAccount(hello: Hello__Output): ServiceAccountRef | undefined | string {
  const { namespace, serviceAccount } = hello;
  if (namespace === "" && serviceAccount === "") return undefined;
  if (namespace === "" || serviceAccount === "")
    return "hello names a namespace without a service account, or the other way round: give both or neither";
  if (!isNamespace(namespace)) return `hello namespace "${namespace}" is not a Kubernetes namespace name`;
  if (!isServiceAccountName(serviceAccount))
    return `hello service account "${serviceAccount}" is not a Kubernetes service account name`;
  return { namespace, name: serviceAccount };
}

function sidecarState(info: SessionInfo): "acked" | "pending" | "rejecting" {
  if (info.lastNack !== undefined) return "rejecting";
  return info.lastAckedVersion >= info.lastPushedVersion ? "acked" : "pending";
}

/** Longest value text shown by meshlet config status: enough to tell values apart. */
const PREVIEW_CHARS = 64;

function configView(delivery: ConfigDelivery | undefined, key: string | undefined): SidecarConfigView | null {
  if (delivery === undefined) return null;
  const view: SidecarConfigView = { sentRevision: delivery.sentRevision, ackedRevision: delivery.ackedRevision };
  if (key === undefined) return view;
  const e = delivery.entry(key);
  const text = e === undefined ? "" : storedBytes(e.value).toString("utf8");
  view.key =
    e === undefined
      ? null
      : {
          revision: e.revision,
          release: e.release,
          bytes: e.value.length,
          preview: text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text,
          digest: fingerprint(e.value),
        };
  return view;
}

function ttlOf(reg: Register__Output): number {
  return reg.ttlSeconds > 0 ? reg.ttlSeconds * 1000 : DEFAULT_LEASE_TTL_MS;
}

/** `namespace`: as the control plane verified it (the stream's identity, unaryNamespace), never the payload's. */
function toEndpoint(reg: Register__Output, namespace: string | undefined): RegisteredEndpoint {
  const e = reg.endpoint;
  const service = e?.service ?? "";
  const instance = e?.instance ?? "";
  return {
    service,
    instance,
    address: e?.address ?? "",
    port: e?.port ?? 0,
    labels: e?.labels ?? {},
    weight: e?.weight === undefined || e.weight === 0 ? 1 : e.weight,
    leaseId: leaseIdFor(service, instance),
    ...(namespace === undefined ? {} : { namespace }),
  };
}

/**
 * The namespace a unary RegisterInstance stamps: its Kubernetes token's. The payload may name it (or nothing); any
 * other is refused, since it would choose which PeerAuthentication callers apply to the instance. An admin token
 * registers instances without a sidecar and may name any namespace, as it may name any address.
 */
function unaryNamespace(call: object, claimed: string): string | undefined | { refused: string } {
  const principal = principalOf(call);
  if (principal?.role === "admin") return claimed === "" ? undefined : claimed;
  const verified = principal?.account?.namespace;
  if (claimed === "" || claimed === verified) return verified;
  return {
    refused: `register names namespace "${claimed}" but the caller's credential is ${verified === undefined ? "in no namespace" : `for namespace "${verified}"`}: only an admin token may name another`,
  };
}

/** PERMISSION_DENIED with the code in metadata, as the gatekeeper's refusals (auth/grpc-access.ts). */
function addressRefusal(details: string): { code: status; details: string; metadata: Metadata } {
  const metadata = new Metadata();
  metadata.set("x-meshlet-error-code", ADDRESS_NOT_CALLER);
  return { code: status.PERMISSION_DENIED, details, metadata };
}

function grpcStatus(err: unknown): status {
  const code = errorCode(err);
  if (code === "ERR_INVALID_REGISTRATION") return status.INVALID_ARGUMENT;
  if (code === "ERR_NO_LEADER" || code === "ERR_TIMEOUT" || code === "ERR_NODE_DEGRADED") return status.UNAVAILABLE;
  // This node cannot write its data dir (507 over HTTP).
  if (code === "ERR_NO_SPACE" || code === "ERR_DISK_IO") return status.RESOURCE_EXHAUSTED;
  return status.INTERNAL;
}

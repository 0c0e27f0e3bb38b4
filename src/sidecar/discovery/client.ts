import { type ClientDuplexStream, credentials, Metadata, status } from "@grpc/grpc-js";
import type { Clock, TimerHandle } from "../../common/clock.ts";
import { errorMessage } from "../../common/errors.ts";
import { SourceAddressCredentials } from "../../common/grpc-source-address.ts";
import { canonicalIp } from "../../common/ip.ts";
import type { Logger } from "../../common/logger.ts";
import { Counter, type Registry } from "../../common/prom.ts";
import { isCanonicalResource } from "../../config/canonical.ts";
import { discoveryProto } from "../../config/discovery-proto.ts";
import { type Finding, formatFinding } from "../../config/finding.ts";
import { formatPath } from "../../config/format-path.ts";
import type { Resource } from "../../config/resources.ts";
import { resourceSchemas } from "../../config/schemas-on-demand.ts";
import type { Certificate__Output } from "../../gen/meshlet/discovery/v1/Certificate.ts";
import type { ConfigUpdate__Output } from "../../gen/meshlet/discovery/v1/ConfigUpdate.ts";
import type { DiscoveryClient } from "../../gen/meshlet/discovery/v1/Discovery.ts";
import type { DiscoveryRequest } from "../../gen/meshlet/discovery/v1/DiscoveryRequest.ts";
import type { DiscoveryResponse__Output } from "../../gen/meshlet/discovery/v1/DiscoveryResponse.ts";
import type { Endpoint__Output } from "../../gen/meshlet/discovery/v1/Endpoint.ts";
import type { Snapshot__Output } from "../../gen/meshlet/discovery/v1/Snapshot.ts";
import type { TrustBundle__Output } from "../../gen/meshlet/discovery/v1/TrustBundle.ts";
import { controlPlaneCredentials } from "../../security/control-plane-tls.ts";
import { backoffDelay } from "./backoff.ts";

/** A stream ended by the control plane refusing the sidecar's credentials: the gRPC code's name and its details. */
interface CredentialRefusal {
  readonly code: "UNAUTHENTICATED" | "PERMISSION_DENIED";
  readonly details: string;
}

/**
 * UNAUTHENTICATED (no, a forged, expired or revoked token) and
 * PERMISSION_DENIED (a token for another service, an account the Service
 * does not list) as a refusal; undefined for any other end of a stream.
 */
function credentialRefusal(err: unknown): CredentialRefusal | undefined {
  const e = err as { code?: unknown; details?: unknown };
  const details = typeof e.details === "string" ? e.details : "";
  if (e.code === status.UNAUTHENTICATED) return { code: "UNAUTHENTICATED", details };
  if (e.code === status.PERMISSION_DENIED) return { code: "PERMISSION_DENIED", details };
  return undefined;
}

/** A snapshot decoded and validated, ready for the sidecar's pipeline. */
export interface MeshSnapshot {
  version: number;
  /** The resources that passed validation. */
  resources: Resource[];
  /** Resources left out because this sidecar cannot read them (a newer control plane's fields, bad JSON). */
  rejected: Finding[];
  endpoints: Endpoint__Output[];
}

export interface Registration {
  /**
   * The address peers reach this instance at. Absent: the source address of the stream's connection (its
   * socket's local address), which is what the control plane compares a registration with; the instance is then
   * registered once the connection exists.
   */
  address?: string;
  port: number;
  labels: Record<string, string>;
  weight: number;
  ttlSeconds: number;
}

export interface DiscoveryClientOptions {
  /** Control-plane gRPC addresses (host:port); tried in order, wrapping around. */
  controls: readonly string[];
  nodeId: string;
  service: string;
  instance: string;
  /** Services the app calls; "*" = all. */
  subscribe: readonly string[];
  /** The app instance to register, if any. */
  registration?: Registration;
  /**
   * Bearer token sent as `authorization` metadata (a sidecar token bound to `service`, admin, or a Kubernetes
   * service-account token). A function is called at every (re)connect: a projected token file is read anew, so
   * the kubelet's rotation reaches the next stream.
   */
  token?: string | (() => string | undefined);
  /**
   * The mesh CA (--ca-file): the stream is TLS, and the server must be a control-plane node under it. A function
   * is called at every (re)connect, so a CA bundle rotated on disk reaches the next connection (common/ca-file.ts).
   */
  caPem?: Buffer | (() => Buffer);
  /** Applies a snapshot; throwing rejects it whole (NACK with the error's message) and keeps the previous config. */
  apply: (snapshot: MeshSnapshot) => void;
  /**
   * The resources the last apply refused (it ran the rest): the snapshot is
   * then NACKed naming them, though applied. Default: none.
   */
  refused?: () => readonly Finding[];
  clock: Clock;
  logger: Logger;
  /** [0, 1): the jitter source, injected so tests are deterministic. */
  random?: () => number;
  backoff?: { baseMs: number; maxMs: number };
  /**
   * How long a new stream may stay silent before its node counts as hung and
   * the next one is tried (default 3 s): a frozen process still accepts TCP
   * connections, so only the missing first snapshot tells it apart. It doubles
   * after each stream that timed out so, up to 8 times, and is back at this
   * after a first message (see FIRST_MESSAGE_TIMEOUT_GROWTH).
   */
  firstMessageTimeoutMs?: number;
  /** What the sidecar reports about itself (its load report); sent as `status` when it changed since the last. */
  status?: () => unknown;
  statusIntervalMs?: number;
  /** How long an ACK waits, so that it covers every snapshot applied meanwhile (default 100 ms). */
  ackDelayMs?: number;
  /** Extra gRPC channel options (e.g. a local subchannel pool, so simulated sidecars do not share connections). */
  channelOptions?: Record<string, number | string>;
  /** The instance's labels, sent in the hello (ConfigRelease label selectors). */
  labels?: Record<string, string>;
  /** The workload's Kubernetes service account (--namespace/--service-account), sent in the hello. */
  account?: { namespace: string; name: string } | undefined;
  /** The app config: the revision held (sent in each hello), and where updates go; acknowledged once applied. */
  config?: { revision: () => number; apply: (update: ConfigUpdate__Output) => void };
  /** A stream came up (its first message) or went down. */
  onConnection?: (up: boolean) => void;
  /** Where meshlet_sidecar_control_refused_total is registered (none: not counted). */
  registry?: Registry;
  /** The workload identity (mTLS): told when a stream opens, given certificates and trust bundles. */
  identity?: IdentityChannel;
}

/** What the stream does for the sidecar's certificate (sidecar/mtls/workload-identity.ts). */
export interface IdentityChannel {
  /** A stream opened (hello sent): a good moment to ask for a certificate with requestCertificate(). */
  streamOpened(): void;
  certificate(c: Certificate__Output): void;
  trustBundle(b: TrustBundle__Output): void;
}

/**
 * The ceiling is 1 s, not the tens of seconds of a typical client: a
 * reconnect attempt to a dead node is one refused TCP connect (cheap for the
 * node and the sidecar), and a sidecar must be back within a second of the
 * control plane answering again, however long it was down.
 */
const DEFAULT_BACKOFF = { baseMs: 100, maxMs: 1_000 };
const DEFAULT_FIRST_MESSAGE_TIMEOUT_MS = 3_000;
/**
 * The first-message timeout doubles after each consecutive timeout, up to 2^3 = 8 times (24 s by default).
 * A node busy with thousands of streams opening at once (all sidecars reconnecting after a restart) may need
 * longer than 3 s for each first snapshot; with a fixed timeout every sidecar gave up on its stream and opened
 * another, so the node's work was thrown away and none got through (bench:push at 6,000 sidecars: 0 streaming,
 * ~29,000 abandoned streams in 45 s). A frozen node is still left after 3 s the first time.
 */
const FIRST_MESSAGE_TIMEOUT_GROWTH = 3;
const DEFAULT_STATUS_INTERVAL_MS = 2_000;
/**
 * A node that stays unreachable for the same reason is said at warn once, then again at most this often (with
 * the failed attempts in a row); the retries in between, every 100 ms to 1 s, go to debug. Else an outage floods
 * the log. A new reason (refused, then an untrusted certificate) is news: said at once.
 */
const UNREACHABLE_REPEAT_MS = 30_000;
/**
 * Long enough for a node to finish a push round to a thousand streams before
 * their ACKs arrive (reading them would slow the round), short next to a
 * lease's TTL so /v1/sidecars stays current.
 */
const DEFAULT_ACK_DELAY_MS = 100;
/**
 * A dead node must be noticed even when no RST arrives (a partition, a frozen
 * process): an HTTP/2 PING every 2 s, unanswered for 2 s, ends the stream, so
 * a hung node is left within 4 s. The channel's own reconnect backoff (1 s
 * growing to 120 s by default) is cut to the same bounds as the client's, so it
 * never holds a reconnect back after the node answers again.
 */
const CHANNEL_OPTIONS = {
  "grpc.keepalive_time_ms": 2_000,
  "grpc.keepalive_timeout_ms": 2_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1_000,
};

/**
 * The sidecar's side of meshlet.discovery.v1.Discovery/Stream: one stream to
 * one control-plane node at a time. When it ends the client moves to the next
 * address after an exponential, fully jittered delay (so a thousand sidecars of
 * a dead node do not reconnect in lock step). Versions only go forward: a node
 * that lags behind the one the sidecar left may send an older snapshot, which
 * is acknowledged and ignored.
 */
export class DiscoveryStreamClient {
  readonly #o: DiscoveryClientOptions;
  readonly #random: () => number;
  readonly #backoff: { baseMs: number; maxMs: number };
  readonly #log: Logger;
  #clients = new Map<string, DiscoveryClient>();
  #call: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse__Output> | undefined;
  #next = 0;
  #attempt = 0;
  /** When, and why, "not reachable" was last said at warn, per node address, since the last stream came up. */
  #unreachableSaid = new Map<string, { at: number; reason: string }>();
  /** Streams in a row that timed out waiting for their first message. */
  #slowStarts = 0;
  #retryTimer: TimerHandle | undefined;
  #firstMessageTimer: TimerHandle | undefined;
  #heartbeatTimer: TimerHandle | undefined;
  #statusTimer: TimerHandle | undefined;
  #ackTimer: TimerHandle | undefined;
  /** The newest snapshot received and not yet acknowledged; one ACK covers those before it. */
  #unacked: { version: number; nonce: string } | undefined;
  /** The revision of the newest config update applied and not yet acknowledged. */
  #configUnacked: number | undefined;
  /** The status last written on the current stream; a new stream starts with none. */
  #statusSent: string | undefined;
  #stopped = false;
  /** The app passes its health check: registered while true. */
  #serving = true;
  #version = 0;
  /** The resources of the last applied snapshot, to skip re-validating unchanged ones. */
  #decoded: ReadonlyMap<string, DecodedResource> = new Map();
  /** Why the version applied last was NACKed (some of its resources refused); repeated to every node that sends it. */
  #refused: { version: number; error: string } | undefined;
  #connectedTo: string | undefined;
  /** The control-plane address of the current stream. */
  #callAddress: string | undefined;
  /** The current stream's connection's local address, once connected (Registration.address absent). */
  #source: string | undefined;
  /** The registration waits for #source. */
  #registerWhenConnected = false;
  /** When the last stream that delivered snapshots ended; undefined while connected or before the first. */
  #lostAt: number | undefined;
  /** The last credential refusal logged (code and details): the same one again on a retry is not logged again. */
  #credentialRefusal: string | undefined;
  readonly #refusals: Counter<"code"> | undefined;

  constructor(options: DiscoveryClientOptions) {
    if (options.controls.length === 0) throw new Error("at least one control-plane address is needed");
    this.#o = options;
    this.#random = options.random ?? Math.random;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#log = options.logger.child({ subsystem: "discovery-client" });
    this.#refusals =
      options.registry === undefined
        ? undefined
        : new Counter({
            name: "meshlet_sidecar_control_refused_total",
            help: "Discovery streams the control plane closed refusing this sidecar's credentials, by gRPC code (UNAUTHENTICATED: token missing, unknown, expired or revoked; PERMISSION_DENIED: a token or account not allowed to act for this service)",
            labelNames: ["code"],
            registers: [options.registry],
          });
  }

  /** Version of the last snapshot applied; 0 before the first. */
  get version(): number {
    return this.#version;
  }

  /** Address of the node whose stream is open, if any. */
  get connectedTo(): string | undefined {
    return this.#connectedTo;
  }

  /** When the stream was lost (the injected clock's ms), while no node streams to this sidecar; undefined if it never had one. */
  get disconnectedSince(): number | undefined {
    return this.#connectedTo === undefined ? this.#lostAt : undefined;
  }

  start(): void {
    this.#connect();
  }

  /** Graceful shutdown: deregister the instance at once (not at lease expiry), then close. */
  stop(): void {
    this.#stopped = true;
    this.#clearTimers();
    const call = this.#call;
    if (call !== undefined && this.#o.registration !== undefined && this.#serving) {
      call.write({ deregister: { service: this.#o.service, instance: this.#o.instance } });
    }
    call?.end();
    this.#call = undefined;
    // Let the deregister flush before the channels close.
    setImmediate(() => {
      for (const c of this.#clients.values()) c.close();
      this.#clients.clear();
    });
  }

  #client(address: string): DiscoveryClient {
    let c = this.#clients.get(address);
    if (c === undefined) {
      const Client = discoveryProto().meshlet.discovery.v1.Discovery;
      const ca = typeof this.#o.caPem === "function" ? this.#o.caPem() : this.#o.caPem;
      const creds = ca === undefined ? credentials.createInsecure() : controlPlaneCredentials(ca);
      const client = new Client(
        address,
        new SourceAddressCredentials(creds, (local) => this.#connected(client, local)),
        { ...CHANNEL_OPTIONS, ...this.#o.channelOptions },
      );
      c = client;
      this.#clients.set(address, c);
    }
    return c;
  }

  /** A connection of `client` is up from `local`: an instance that registers its source address can now. */
  #connected(client: DiscoveryClient, local: string): void {
    const call = this.#call;
    if (call === undefined || this.#clients.get(this.#callAddress ?? "") !== client) return;
    this.#source = canonicalIp(local) ?? local;
    const reg = this.#o.registration;
    if (this.#registerWhenConnected && reg !== undefined && this.#serving) this.#register(call, reg);
  }

  /**
   * The control plane answered, and refused this sidecar's token, the
   * identity it asked for or the address it registered: not a reachability
   * problem, and retrying will not help until an operator acts (a new token,
   * the Service's accounts, --advertise-address). Logged
   * once per distinct refusal, not on every retry; retries go on, so a fixed
   * token or policy is picked up without a restart.
   */
  #refusedCredentials(address: string, refusal: CredentialRefusal, delay: number): void {
    this.#refusals?.inc({ code: refusal.code });
    const key = `${refusal.code}\n${refusal.details}`;
    if (key === this.#credentialRefusal) return;
    this.#credentialRefusal = key;
    this.#log.error(
      { control: address, code: refusal.code, details: refusal.details, retryInMs: Math.round(delay) },
      "control plane refused this sidecar (its credentials, identity or registered address; see details)",
    );
  }

  /** A node not reached (again): at warn for a new reason and every UNREACHABLE_REPEAT_MS, else at debug. */
  #unreachable(address: string, reason: string, delay: number): void {
    const now = this.#o.clock.now();
    const said = this.#unreachableSaid.get(address);
    const fields = { control: address, reason, retryInMs: Math.round(delay), failedAttempts: this.#attempt };
    if (said !== undefined && said.reason === reason && now - said.at < UNREACHABLE_REPEAT_MS) {
      this.#log.debug(fields, "control plane not reachable");
      return;
    }
    this.#unreachableSaid.set(address, { at: now, reason });
    this.#log.warn(fields, "control plane not reachable");
  }

  #dropClient(address: string): void {
    const c = this.#clients.get(address);
    if (c === undefined) return;
    this.#clients.delete(address);
    c.close();
  }

  /** Sends a CSR on the open stream; false when no stream is open (the next streamOpened() asks again). */
  requestCertificate(csrPem: string, requestId: number): boolean {
    const call = this.#call;
    if (call === undefined) return false;
    call.write({ certificateRequest: { csrPem, requestId } });
    return true;
  }

  #connect(): void {
    if (this.#stopped) return;
    const address = this.#o.controls[this.#next % this.#o.controls.length] ?? "";
    this.#next++;
    const metadata = new Metadata();
    const token = typeof this.#o.token === "function" ? this.#o.token() : this.#o.token;
    if (token !== undefined) metadata.set("authorization", `Bearer ${token}`);
    this.#source = undefined;
    this.#registerWhenConnected = false;
    const call = this.#client(address).Stream(metadata);
    this.#call = call;
    this.#callAddress = address;
    let ended = false;
    const onEnd = (reason: string, refusal?: CredentialRefusal) => {
      if (ended || call !== this.#call) return;
      ended = true;
      this.#call = undefined;
      const wasUp = this.#connectedTo === address;
      if (wasUp) this.#lostAt = this.#o.clock.now();
      this.#connectedTo = undefined;
      this.#clearTimers();
      // A fresh channel next time: the old one may sit in its own reconnect backoff or on a hung connection.
      this.#dropClient(address);
      if (wasUp) this.#o.onConnection?.(false);
      if (this.#stopped) return;
      const delay = backoffDelay(this.#attempt++, this.#backoff, this.#random);
      if (refusal !== undefined) this.#refusedCredentials(address, refusal, delay);
      else if (wasUp)
        this.#log.warn({ control: address, reason, retryInMs: Math.round(delay) }, "discovery stream lost");
      else this.#unreachable(address, reason, delay);
      this.#retryTimer = this.#o.clock.setTimeout(() => {
        this.#retryTimer = undefined;
        this.#connect();
      }, delay);
    };
    const firstMessageMs =
      (this.#o.firstMessageTimeoutMs ?? DEFAULT_FIRST_MESSAGE_TIMEOUT_MS) *
      2 ** Math.min(this.#slowStarts, FIRST_MESSAGE_TIMEOUT_GROWTH);
    this.#firstMessageTimer = this.#o.clock.setTimeout(() => {
      this.#firstMessageTimer = undefined;
      this.#slowStarts++;
      onEnd(`no snapshot within the first-message timeout of ${firstMessageMs} ms (node hung or overloaded?)`);
      call.cancel();
    }, firstMessageMs);
    call.on("data", (res: DiscoveryResponse__Output) => {
      // A stream given up on (first-message timeout) may still deliver what was in flight: an answer to a
      // certificate request made on it would be taken for the one made on its successor.
      if (call !== this.#call) return;
      if (this.#connectedTo !== address) {
        if (this.#firstMessageTimer !== undefined) this.#o.clock.clearTimeout(this.#firstMessageTimer);
        this.#firstMessageTimer = undefined;
        this.#log.info({ control: address }, "discovery stream up");
        this.#connectedTo = address;
        this.#credentialRefusal = undefined;
        this.#unreachableSaid.clear();
        this.#attempt = 0;
        this.#slowStarts = 0;
        this.#o.onConnection?.(true);
      }
      if (res.snapshot) this.#onSnapshot(call, res.snapshot);
      else if (res.config) this.#onConfig(call, res.config);
      else if (res.certificate) this.#o.identity?.certificate(res.certificate);
      else if (res.trustBundle) this.#o.identity?.trustBundle(res.trustBundle);
    });
    call.on("error", (err) => onEnd(errorMessage(err), credentialRefusal(err)));
    call.on("end", () => onEnd("stream ended"));
    call.write({
      hello: {
        nodeId: this.#o.nodeId,
        service: this.#o.service,
        instance: this.#o.instance,
        lastVersion: this.#version,
        subscribe: [...this.#o.subscribe],
        configRevision: this.#o.config?.revision() ?? 0,
        labels: this.#o.labels ?? {},
        namespace: this.#o.account?.namespace ?? "",
        serviceAccount: this.#o.account?.name ?? "",
      },
    });
    this.#o.identity?.streamOpened();
    const reg = this.#o.registration;
    if (reg !== undefined && this.#serving) this.#register(call, reg);
    this.#statusSent = undefined;
    if (this.#o.status !== undefined) this.#scheduleStatus(call, this.#o.status);
  }

  #register(call: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse__Output>, reg: Registration): void {
    const address = reg.address ?? this.#source;
    this.#registerWhenConnected = address === undefined;
    if (address === undefined) return;
    call.write({
      register: {
        endpoint: {
          service: this.#o.service,
          instance: this.#o.instance,
          address,
          port: reg.port,
          labels: reg.labels,
          weight: reg.weight,
        },
        ttlSeconds: reg.ttlSeconds,
      },
    });
    this.#scheduleHeartbeat(call, reg.ttlSeconds);
  }

  /**
   * Whether the app behind this sidecar can serve (its own health check):
   * false takes the instance out of the mesh at once (deregistered, no more
   * heartbeats, not registered again on a reconnect), true registers it again.
   */
  setServing(serving: boolean): void {
    if (serving === this.#serving) return;
    this.#serving = serving;
    const call = this.#call;
    const reg = this.#o.registration;
    if (call === undefined || reg === undefined) return;
    if (serving) {
      this.#register(call, reg);
      return;
    }
    if (this.#heartbeatTimer !== undefined) this.#o.clock.clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
    this.#registerWhenConnected = false;
    call.write({ deregister: { service: this.#o.service, instance: this.#o.instance } });
  }

  #scheduleStatus(call: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse__Output>, status: () => unknown): void {
    this.#statusTimer = this.#o.clock.setTimeout(() => {
      if (call !== this.#call) return;
      const send = (value: unknown) => {
        if (call !== this.#call) return;
        const json = JSON.stringify(value);
        if (json !== this.#statusSent) {
          call.write({ status: { json } });
          this.#statusSent = json;
        }
        this.#scheduleStatus(call, status);
      };
      const value = status();
      // A report read from async sources (metric registries) is sent when it resolves; the next one is timed
      // from then, so reports never overlap.
      if (value instanceof Promise)
        value.then(send, (err: unknown) => {
          this.#log.warn({ err: errorMessage(err) }, "status report failed");
          if (call === this.#call) this.#scheduleStatus(call, status);
        });
      else send(value);
    }, this.#o.statusIntervalMs ?? DEFAULT_STATUS_INTERVAL_MS);
  }

  #scheduleHeartbeat(call: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse__Output>, ttlSeconds: number): void {
    this.#heartbeatTimer = this.#o.clock.setTimeout(
      () => {
        if (call !== this.#call) return;
        call.write({ heartbeat: { service: this.#o.service, instance: this.#o.instance } });
        this.#scheduleHeartbeat(call, ttlSeconds);
      },
      (ttlSeconds * 1000) / 3,
    );
  }

  #onSnapshot(call: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse__Output>, s: Snapshot__Output): void {
    if (s.version <= this.#version) {
      // A node this sidecar just moved to sends the version it runs: the refusal still stands, so say it again.
      const refused = this.#refused;
      if (refused !== undefined && refused.version === s.version) this.#nack(call, s.version, s.nonce, refused.error);
      else this.#ackLater(call, s.version, s.nonce);
      return;
    }
    const decoded = new Map<string, DecodedResource>();
    const snapshot = decodeSnapshot(s, this.#decoded, decoded);
    try {
      this.#o.apply(snapshot);
    } catch (err) {
      const error = errorMessage(err);
      this.#log.error({ version: s.version, error }, "snapshot rejected; keeping the previous configuration");
      this.#nack(call, s.version, s.nonce, error);
      return;
    }
    this.#decoded = decoded;
    this.#version = s.version;
    // What decoding left out, and what the sidecar refused of the rest (it may repeat the former).
    const refused = [
      ...new Map([...snapshot.rejected, ...(this.#o.refused?.() ?? [])].map((f) => [formatFinding(f), f])).values(),
    ];
    if (refused.length === 0) {
      this.#refused = undefined;
      this.#ackLater(call, s.version, s.nonce);
      return;
    }
    const error = refused.map(formatFinding).join("; ");
    this.#refused = { version: s.version, error };
    this.#log.error(
      { version: s.version, error, resources: refused.map((f) => f.resource) },
      "resources rejected; applied the rest, keeping the last good version of these",
    );
    this.#nack(call, s.version, s.nonce, error);
  }

  /** At once: an operator waits for this one. A pending ACK names an older nonce the node no longer expects. */
  #nack(
    call: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse__Output>,
    version: number,
    nonce: string,
    error: string,
  ): void {
    this.#unacked = undefined;
    call.write({ nack: { version, nonce, error } });
  }

  /** Config values are opaque bytes: there is nothing to reject, so an update is applied and acknowledged. */
  #onConfig(call: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse__Output>, u: ConfigUpdate__Output): void {
    this.#o.config?.apply(u);
    this.#configUnacked = u.revision;
    this.#armAck(call);
  }

  #ackLater(
    call: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse__Output>,
    version: number,
    nonce: string,
  ): void {
    this.#unacked = { version, nonce };
    this.#armAck(call);
  }

  /** One timer for both kinds of ACK: a push round's ACKs arrive after it, not during it. */
  #armAck(call: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse__Output>): void {
    if (this.#ackTimer !== undefined) return;
    this.#ackTimer = this.#o.clock.setTimeout(() => {
      this.#ackTimer = undefined;
      const ack = this.#unacked;
      const config = this.#configUnacked;
      this.#unacked = undefined;
      this.#configUnacked = undefined;
      if (call !== this.#call) return;
      if (ack !== undefined) call.write({ ack });
      if (config !== undefined) call.write({ configAck: { revision: config } });
    }, this.#o.ackDelayMs ?? DEFAULT_ACK_DELAY_MS);
  }

  #clearTimers(): void {
    if (this.#retryTimer !== undefined) this.#o.clock.clearTimeout(this.#retryTimer);
    if (this.#firstMessageTimer !== undefined) this.#o.clock.clearTimeout(this.#firstMessageTimer);
    this.#firstMessageTimer = undefined;
    if (this.#heartbeatTimer !== undefined) this.#o.clock.clearTimeout(this.#heartbeatTimer);
    if (this.#statusTimer !== undefined) this.#o.clock.clearTimeout(this.#statusTimer);
    if (this.#ackTimer !== undefined) this.#o.clock.clearTimeout(this.#ackTimer);
    this.#retryTimer = undefined;
    this.#heartbeatTimer = undefined;
    this.#statusTimer = undefined;
    this.#ackTimer = undefined;
    this.#unacked = undefined;
    this.#configUnacked = undefined;
  }
}

/** A resource as received (its JSON) and as validated. */
export interface DecodedResource {
  json: string;
  resource: Resource;
}

/**
 * Validates every resource with the same schema as apply, so a sidecar never
 * runs a config it cannot understand. One it cannot read (JSON from a newer
 * control plane with fields this sidecar does not know) is left out and
 * reported in `rejected`, alone: the sidecar runs its last good version of
 * it, and everything else. A resource whose JSON is the same as in `previous`
 * (the last applied snapshot) is taken from there: a push changes a few
 * resources, and a sidecar that sees many should not parse them all again.
 * Every valid resource of `s` is recorded in `next`.
 */
export function decodeSnapshot(
  s: Snapshot__Output,
  previous: ReadonlyMap<string, DecodedResource> = new Map(),
  next: Map<string, DecodedResource> = new Map(),
): MeshSnapshot {
  const resources: Resource[] = [];
  const rejected: Finding[] = [];
  for (const r of s.resources) {
    const key = `${r.kind}/${r.name}`;
    const known = previous.get(key);
    if (known !== undefined && known.json === r.json) {
      next.set(key, known);
      resources.push(known.resource);
      continue;
    }
    const decoded = decodeResource(key, r.json);
    if ("code" in decoded) {
      rejected.push(decoded);
      continue;
    }
    next.set(key, { json: r.json, resource: decoded });
    resources.push(decoded);
  }
  return { version: s.version, resources, rejected, endpoints: s.endpoints };
}

function decodeResource(key: string, json: string): Resource | Finding {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return { code: "InvalidResource", severity: "error", resource: key, path: "", message: "not valid JSON" };
  }
  // What the control plane sends is canonical (it parsed it with the schemas); the schemas judge the rest.
  const parsed = isCanonicalResource(value)
    ? { success: true as const, data: value }
    : resourceSchemas().resourceSchema.safeParse(value);
  if (parsed.success) {
    const r = parsed.data;
    if (`${r.kind}/${r.metadata.name}` === key) return r;
    return {
      code: "InvalidResource",
      severity: "error",
      resource: key,
      path: "",
      message: `the JSON is ${r.kind}/${r.metadata.name}`,
    };
  }
  const issue = parsed.error.issues[0];
  return {
    code: "InvalidResource",
    severity: "error",
    resource: key,
    path: formatPath(issue?.path.filter((p) => typeof p !== "symbol") ?? []),
    message:
      issue?.code === "unrecognized_keys"
        ? `unknown field(s): ${issue.keys.join(", ")}`
        : (issue?.message ?? "invalid"),
  };
}

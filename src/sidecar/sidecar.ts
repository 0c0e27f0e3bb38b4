import { once } from "node:events";
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo, Server as NetServer } from "node:net";
import { hostname } from "node:os";
import type { Registry } from "prom-client";
import { formatHostPort, type HostPort } from "../common/address.ts";
import { type Clock, systemClock } from "../common/clock.ts";
import { errorCode, errorMessage, MeshletError } from "../common/errors.ts";
import { isUnspecified } from "../common/ip.ts";
import type { Logger } from "../common/logger.ts";
import { type Finding, formatFinding } from "../config/finding.ts";
import type { Resource } from "../config/resources.ts";
import { type ControlPlaneLink, createAdminServer } from "./admin.ts";
import { admitResources } from "./admit.ts";
import { AppConfig } from "./app-config/app-config.ts";
import { registerConfigMetrics } from "./config-metrics.ts";
import { type ConfigSource, SnapshotCache } from "./config-source.ts";
import { DataPath } from "./data-path.ts";
import type { DiscoveryStreamClient, MeshSnapshot } from "./discovery/client.ts";
import { registeredEndpoints } from "./discovery/registered.ts";
import { tcpConnector } from "./engine/connect.ts";
import type { PathOptions } from "./engine/path.ts";
import { DEFAULT_ENGINE_OPTIONS, EngineServer } from "./engine/server.ts";
import { MeshIdentities, serviceAccountsOf } from "./identity-table.ts";
import { buildLoadReport, REPORT_INTERVAL_MS } from "./load-report.ts";
import { SidecarMetrics } from "./metrics.ts";
import type { MeshTls } from "./mtls/mesh-tls.ts";
import { PolicyCompiler } from "./resilience/compile.ts";
import { ResilienceMetrics } from "./resilience/metrics.ts";
import { type CompiledHttpRoute, type CompiledSnapshot, type ConfigSnapshot, compileSnapshot } from "./snapshot.ts";
import type { AccessLogPolicy, LineSink } from "./telemetry/access-log.ts";
import { Telemetry, type TelemetryView } from "./telemetry/telemetry.ts";
import { AppHealth, httpProbe, tcpProbe } from "./upstream/app-health.ts";
import { RoundRobinBalancer } from "./upstream/balancer.ts";
import { warmUp } from "./warm-up.ts";

export interface SidecarOptions {
  service: string;
  appPort: number;
  outbound: HostPort;
  inbound: HostPort;
  /**
   * The address registered (--advertise-address). Default: the inbound host, unless it is unspecified (0.0.0.0,
   * ::), then the source address of the connection to the control plane.
   */
  advertiseAddress?: string | undefined;
  admin: HostPort;
  controls: readonly string[];
  /** The workload's Kubernetes service account (--namespace/--service-account): its identity is then the account's. */
  account?: { namespace: string; name: string } | undefined;
  /** Bearer token for the control plane's discovery stream (--token, MESHLET_TOKEN). */
  token?: string | undefined;
  /**
   * The mesh CA (--ca-file, MESHLET_CA_FILE): discovery goes over TLS verified against it; absent = plain. A
   * function is asked at every (re)connect (the file read again when it changed: a rotated CA).
   */
  caPem?: Buffer | (() => Buffer) | undefined;
  /** Or a file holding it, read at every (re)connect (--token-file: a projected Kubernetes token, rotated). */
  tokenFile?: string | undefined;
  source: ConfigSource | undefined;
  dataDir: string | undefined;
  labels: Record<string, string>;
  /** The name this instance registers under; default `<hostname>-<inbound port>`. */
  instance?: string | undefined;
  /** --config-dir: the app's config keys also as files. */
  configDir?: string | undefined;
  drainDelayMs: number;
  drainTimeoutMs: number;
  connectTimeoutMs: number;
  /** A downstream connection with no byte either way for this long is closed (0: never), as Envoy's stream idle timeout. */
  streamIdleTimeoutMs: number;
  /**
   * A keep-alive downstream connection with no request for this long is closed
   * (0: never); Envoy's idle_timeout, 1 h by default, so that clients, whose
   * pools give up idle sockets much sooner, close first and never reuse one the
   * sidecar is closing.
   */
  downstreamIdleTimeoutMs?: number;
  /**
   * The sidecar's check of its own app (default every 1 s; 0: off): a TCP
   * connect to the app port, or a GET of `appHealthPath` when set. An app
   * that fails it is deregistered from the mesh until it passes again.
   */
  appHealthIntervalMs?: number;
  appHealthPath?: string | undefined;
  /** Where `scope: global` rate limits keep their budget. */
  redis: HostPort | undefined;
  /** Path normalization of the engine (merge slashes, escaped slashes). */
  path?: PathOptions;
  /** Access log of the Services that set none (docs/telemetry.md). */
  accessLog?: AccessLogPolicy | undefined;
  /** Where access log lines go: default stdout. */
  accessLogSink?: (LineSink & { flushSync?(): void }) | undefined;
  /** OTLP/HTTP traces URL: tracing is off without it. */
  tracing?: { endpoint: string; sampleRate: number; flushIntervalMs?: number } | undefined;
  logger: Logger;
  registry: Registry;
  clock?: Clock;
  /** False (`--no-faults`): route faults and fault experiments are never applied. */
  faults?: boolean;
  /** POST /shutdown: the process drains through this (and exits); default: drain only. */
  onShutdownRequest?: () => void;
}

/** Readiness waits at most this long for the config, the certificate and the warm connections (issue 25, 5 f). */
const WARM_UP_CAP_MS = 2_000;
/** Endpoints warmed at start, at most: a big mesh must not open a flood of connections from every new sidecar. */
const WARM_UP_MAX_ENDPOINTS = 64;

/** Findings sent in a status report: enough to act on, well under the control plane's 64 KiB per report. */
const MAX_REPORTED_FINDINGS = 20;

/** The `meshlet sidecar` process: three listeners, a config source, atomic snapshot swaps and graceful drain. */
export class Sidecar {
  readonly #o: SidecarOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #metrics: SidecarMetrics;
  readonly #policies: PolicyCompiler;
  readonly #resilience: ResilienceMetrics;
  #data: DataPath | undefined;
  readonly #telemetry: Telemetry;
  readonly #cache: SnapshotCache | undefined;
  readonly #appConfig: AppConfig;
  #outbound: EngineServer | undefined;
  #inbound: EngineServer | undefined;
  #admin: Server | undefined;
  #discovery: DiscoveryStreamClient | undefined;
  #appHealth: AppHealth | undefined;
  /** mTLS between sidecars: only with a control plane (it issues the certificate) and the engine data path. */
  #mtls: MeshTls | undefined;
  /** Who each SPIFFE ID is, per snapshot and trust domain: mTLS, authorization and telemetry read this one table. */
  readonly #identities = new MeshIdentities();
  #snapshot: CompiledSnapshot | undefined;
  #stale = false;
  #appliedAt: number | undefined;
  /** The resources of the running snapshot's version that were refused (their last good version runs, or none). */
  #rejected: readonly Finding[] = [];
  #warnings: readonly Finding[] = [];
  #draining = false;
  /** True from start until the warm-up ended (done or capped): `/ready` says 503 meanwhile. */
  #warming = true;
  #stopped: Promise<void> | undefined;
  /** The last snapshot-cache write; drain waits for it so a stop right after an update keeps that update. */
  #saving: Promise<void> = Promise.resolve();

  constructor(options: SidecarOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger;
    this.#metrics = new SidecarMetrics(options.registry);
    registerConfigMetrics(options.registry, {
      stale: () => this.#isStale(),
      rejectedResources: () => new Set(this.#rejected.map((f) => f.resource)).size,
      appliedAt: () => this.#appliedAt,
    });
    const resilience = new ResilienceMetrics(options.registry);
    this.#resilience = resilience;
    const accessLog = options.accessLog ?? { mode: "off", sampleRate: 0 };
    this.#telemetry = new Telemetry({
      localService: options.service,
      localVersion: options.labels.version ?? "",
      registry: options.registry,
      clock: this.#clock,
      wallNow: Date.now,
      random: Math.random,
      accessLog,
      accessLogSink: options.accessLogSink ?? process.stdout,
      identities: this.#identities,
    });
    this.#policies = new PolicyCompiler({
      clock: this.#clock,
      logger: options.logger,
      metrics: resilience,
      localService: options.service,
      // Checks dial an endpoint as its pool does: a peer sidecar's STRICT inbound port takes only mTLS.
      transport: (key) => this.#data?.transportFor(key) ?? tcpConnector,
    });
    this.#cache = options.dataDir === undefined ? undefined : new SnapshotCache(options.dataDir);
    this.#appConfig = new AppConfig({
      service: options.service,
      enabled: options.controls.length > 0,
      dataDir: options.dataDir,
      configDir: options.configDir,
      logger: options.logger,
      registry: options.registry,
      clock: this.#clock,
    });
  }

  get snapshot(): CompiledSnapshot | undefined {
    return this.#snapshot;
  }

  /** Addresses actually bound (ports chosen by the OS when 0 was asked). */
  addresses(): { outbound: string; inbound: string; admin: string } {
    const addr = (s: NetServer | undefined) => {
      const a = s?.address() as AddressInfo | null | undefined;
      return a == null ? "" : formatHostPort({ host: a.address, port: a.port });
    };
    return { outbound: addr(this.#outbound?.server), inbound: addr(this.#inbound?.server), admin: addr(this.#admin) };
  }

  async start(): Promise<void> {
    if (this.#o.redis !== undefined) {
      const { GlobalReservoir } = await import("./resilience/global-reservoir.ts");
      this.#policies.useRedis({ address: this.#o.redis, Reservoir: GlobalReservoir });
    }
    const tracing = this.#o.tracing;
    if (tracing !== undefined) {
      // Loaded only here: a sidecar without --tracing-endpoint never loads @opentelemetry.
      const { loadOtlpExporter } = await import("./telemetry/load-exporter.ts");
      const exporter = await loadOtlpExporter({
        endpoint: tracing.endpoint,
        serviceName: this.#o.service,
        instance: this.#o.instance ?? `${hostname()}-${this.#o.inbound.port}`,
        flushIntervalMs: tracing.flushIntervalMs ?? 1_000,
      });
      this.#telemetry.useTracing({ exporter, sampleRate: tracing.sampleRate });
    }
    // Before the first snapshot: applying it swaps it into the data path.
    const [outbound, inbound] = this.#startEngine();
    await this.#loadInitial();
    await this.#appConfig.load();
    this.#admin = createAdminServer(
      {
        snapshot: () => this.#snapshot,
        stale: () => this.#isStale(),
        controlPlane: () => this.#controlPlane(),
        rejected: () => this.#rejected,
        warnings: () => this.#warnings,
        appliedAt: () => this.#appliedAt,
        draining: () => this.#draining,
        warming: () => this.#warming,
        shutdown: () => (this.#o.onShutdownRequest === undefined ? void this.stop() : this.#o.onShutdownRequest()),
        config: this.#appConfig.api,
      },
      this.#o.registry,
    );
    await Promise.all([
      listen(outbound.server, this.#o.outbound),
      listen(inbound.server, this.#o.inbound),
      listen(this.#admin, this.#o.admin),
    ]);
    if (this.#o.controls.length > 0) {
      await this.#startDiscovery();
      this.#startAppHealth();
    }
    void this.#warmUp();
    // The addresses bound (ports from 0 included) are announced whatever the log level: supervisors read them.
    const announce = this.#log.level === "silent" ? this.#log : this.#log.child({}, { level: "info" });
    announce.info({ ...this.addresses(), version: this.#snapshot?.version }, "sidecar listening");
  }

  /** Cold start: the config, the certificate (with mTLS) and one connection per reachable endpoint before `/ready`. */
  async #warmUp(): Promise<void> {
    const data = this.#data;
    const r = await warmUp({
      clock: this.#clock,
      capMs: WARM_UP_CAP_MS,
      maxEndpoints: WARM_UP_MAX_ENDPOINTS,
      pollMs: 10,
      snapshot: () => this.#snapshot,
      identityReady: () => this.#mtls === undefined || this.#mtls.identity.material !== undefined,
      connect: (e) => data?.warm(e) ?? Promise.resolve(false),
    });
    const fields = { endpoints: r.endpoints, warmed: r.warmed, tookMs: r.tookMs };
    if (r.complete) this.#log.info(fields, "warm-up done: ready");
    else this.#log.warn({ ...fields, missing: r.missing, capMs: WARM_UP_CAP_MS }, "warm-up capped: ready anyway");
    // Said before /ready turns 200 (the logger writes asynchronously, so a reader of the log may still wait).
    this.#warming = false;
  }

  #inboundPort(): number {
    const inbound = this.addresses().inbound;
    return Number(inbound.slice(inbound.lastIndexOf(":") + 1));
  }

  /** The id this instance registers under (and inbound experiments select by). */
  #instance(): string {
    return this.#o.instance ?? `${hostname()}-${this.#inboundPort()}`;
  }

  /** The HTTP/1.1 engine on raw sockets with the stage chains (data-path.ts). */
  #startEngine(): [EngineServer, EngineServer] {
    const data = new DataPath({
      clock: this.#clock,
      logger: this.#log,
      metrics: this.#metrics,
      resilience: this.#resilience,
      telemetry: this.#telemetry,
      identities: this.#identities,
      pool: {
        connectTimeoutMs: this.#o.connectTimeoutMs,
        idleTimeoutMs: 4_000,
        maxRequestsPerConnection: 10_000,
        maxSockets: 256,
      },
      localService: this.#o.service,
      instance: () => this.#instance(),
      labels: this.#o.labels,
      faults: this.#o.faults !== false,
      inboundRoute: localAppRoute(this.#o.service, this.#o.appPort, this.#o.labels),
    });
    this.#data = data;
    const options = {
      ...DEFAULT_ENGINE_OPTIONS,
      path: this.#o.path ?? DEFAULT_ENGINE_OPTIONS.path,
      streamIdleTimeoutMs: this.#o.streamIdleTimeoutMs,
      keepAliveTimeoutMs: this.#o.downstreamIdleTimeoutMs ?? DEFAULT_ENGINE_OPTIONS.keepAliveTimeoutMs,
    };
    const refused = (direction: string) => (err: { status: number; code: string }) =>
      this.#log.debug({ direction, status: err.status, code: err.code }, "request refused");
    this.#outbound = new EngineServer(options, data.handler("outbound"), refused("outbound"));
    this.#inbound = new EngineServer(options, data.handler("inbound"), refused("inbound"));
    return [this.#outbound, this.#inbound];
  }

  /**
   * The running config may be out of date: it came from the cache at boot and
   * nothing newer arrived, or the control plane cannot be reached now (its
   * changes would not arrive). Reported, never a reason to stop serving.
   */
  #isStale(): boolean {
    const cp = this.#controlPlane();
    return this.#stale || (cp !== undefined && !cp.connected);
  }

  #controlPlane(): ControlPlaneLink | undefined {
    if (this.#o.controls.length === 0) return undefined;
    const d = this.#discovery;
    const address = d?.connectedTo;
    if (address !== undefined) return { connected: true, address };
    const lostAt = d?.disconnectedSince;
    // The client's clock is monotonic; the report says when, in wall-clock time.
    return { connected: false, ...(lostAt === undefined ? {} : { since: Date.now() - (this.#clock.now() - lostAt) }) };
  }

  async #loadInitial(): Promise<void> {
    const source = this.#o.source;
    let failure: unknown;
    if (source !== undefined) {
      try {
        this.apply(await source.load());
        return;
      } catch (err) {
        failure = err;
        this.#log.error({ code: errorCode(err), err: errorMessage(err) }, "config source failed at boot");
      }
    }
    const cached = await this.#cache?.load();
    if (cached === undefined) {
      if (source !== undefined && this.#o.controls.length === 0)
        throw new MeshletError(
          errorCode(failure),
          `${errorMessage(failure)}\n(no cached snapshot to start from${this.#cache === undefined ? ": no --data-dir" : ""})`,
          { cause: failure },
        );
      return;
    }
    try {
      this.apply(cached, { persist: false });
      this.#stale = true;
      this.#log.warn(
        { version: cached.version, savedAt: new Date(cached.savedAt).toISOString() },
        "serving cached snapshot",
      );
    } catch (err) {
      this.#log.error({ code: errorCode(err), err: errorMessage(err) }, "cached snapshot rejected");
    }
  }

  /**
   * Validates and compiles a snapshot off the request path, then swaps it in
   * with one assignment: requests already routed keep the objects they hold.
   * Throws (and keeps the running config) when the snapshot is rejected.
   */
  apply(snap: ConfigSnapshot, opts: { persist: boolean } = { persist: true }): void {
    const admitted = admitResources(snap.resources, snap.rejected ?? [], this.#lastGood(), {
      redis: this.#o.redis !== undefined,
    });
    const running: ConfigSnapshot = { version: snap.version, source: snap.source, resources: admitted.resources };
    let compiled: CompiledSnapshot;
    try {
      compiled = compileSnapshot(running, this.#policies);
    } catch (err) {
      this.#metrics.reloads.labels("rejected").inc();
      this.#log.error(
        { code: errorCode(err), err: errorMessage(err), version: snap.version },
        "config rejected, keeping the previous one",
      );
      throw err;
    }
    this.#snapshot = compiled;
    this.#identities.useServices(serviceAccountsOf(compiled.resources));
    this.#data?.swap(compiled);
    this.#mtls?.swap(compiled);
    this.#telemetry.swap(telemetryView(compiled));
    this.#policies.activate();
    this.#stale = false;
    this.#appliedAt = Date.now();
    this.#rejected = admitted.rejected;
    this.#warnings = admitted.warnings;
    this.#metrics.reloads.labels(admitted.rejected.length === 0 ? "applied" : "partial").inc();
    this.#log.info(
      { version: snap.version, source: snap.source, resources: running.resources.length },
      "config applied",
    );
    for (const f of admitted.rejected)
      this.#log.error(
        { version: snap.version, resource: f.resource, code: f.code, err: formatFinding(f) },
        "resource rejected",
      );
    for (const f of admitted.warnings)
      this.#log.warn(
        { version: snap.version, resource: f.resource, code: f.code, warning: formatFinding(f) },
        "config warning",
      );
    if (opts.persist && this.#cache !== undefined) {
      const cache = this.#cache;
      this.#saving = this.#saving.then(() =>
        cache
          .save(running)
          .catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "snapshot cache write failed")),
      );
    }
  }

  /** The resources running now, by `Kind/name`: what a refused resource falls back to. */
  #lastGood(): Map<string, Resource> {
    const out = new Map<string, Resource>();
    for (const r of this.#snapshot?.resources ?? []) out.set(`${r.kind}/${r.metadata.name}`, r);
    return out;
  }

  /** SIGHUP: reload the static source; a bad file keeps the running config. */
  async reload(): Promise<boolean> {
    const source = this.#o.source;
    if (source === undefined) return false;
    let snap: ConfigSnapshot;
    try {
      snap = await source.load();
    } catch (err) {
      this.#metrics.reloads.labels("rejected").inc();
      this.#log.error({ code: errorCode(err), err: errorMessage(err) }, "reload failed, keeping the previous config");
      return false;
    }
    try {
      this.apply(snap);
      return true;
    } catch {
      return false;
    }
  }

  async #startDiscovery(): Promise<void> {
    // gRPC is loaded only by sidecars that talk to a control plane: a static-config sidecar is ~15 MB smaller.
    const [{ DiscoveryStreamClient }, { routeGrpcLogs }] = await Promise.all([
      import("./discovery/client.ts"),
      import("../common/grpc-log.ts"),
    ]);
    routeGrpcLogs(this.#log);
    await this.#startMtls();
    const port = this.#inboundPort();
    this.#discovery = new DiscoveryStreamClient({
      controls: this.#o.controls,
      ...this.#tokenOption(),
      ...(this.#o.caPem === undefined ? {} : { caPem: this.#o.caPem }),
      nodeId: `${this.#o.service}-${hostname()}-${process.pid}`,
      service: this.#o.service,
      instance: this.#instance(),
      subscribe: ["*"],
      registration: {
        ...registrationAddress(this.#o.advertiseAddress, this.#o.inbound.host),
        port,
        labels: this.#o.labels,
        weight: 1,
        ttlSeconds: 15,
      },
      apply: (s) => {
        this.#mtls?.registered(s);
        this.apply(fromMesh(s, this.#o.controls.join(",")));
      },
      ...(this.#mtls === undefined ? {} : { identity: this.#mtls.identity }),
      refused: () => this.#rejected,
      status: async () => ({
        ...(await buildLoadReport(this.#metrics, this.#snapshot, REPORT_INTERVAL_MS)),
        rejected: this.#rejected.slice(0, MAX_REPORTED_FINDINGS),
        warnings: this.#warnings.slice(0, MAX_REPORTED_FINDINGS),
      }),
      statusIntervalMs: REPORT_INTERVAL_MS,
      clock: this.#clock,
      logger: this.#log,
      registry: this.#o.registry,
      labels: this.#o.labels,
      account: this.#o.account,
      ...this.#appConfig.discovery(),
    });
    this.#discovery.start();
  }

  /** A --token-file is read at each connect: the kubelet rotates a projected token in place. */
  #tokenOption(): { token?: string | (() => string | undefined) } {
    const file = this.#o.tokenFile;
    if (file === undefined) return this.#o.token === undefined ? {} : { token: this.#o.token };
    return {
      token: () => {
        try {
          return readFileSync(file, "utf8").trim();
        } catch (err) {
          this.#log.error({ file, err: errorMessage(err) }, "cannot read --token-file; connecting without a token");
          return undefined;
        }
      },
    };
  }

  /** Probes the app behind this sidecar; a change of verdict (de)registers the instance. */
  #startAppHealth(): void {
    const intervalMs = this.#o.appHealthIntervalMs ?? 1_000;
    if (intervalMs === 0) return;
    const port = this.#o.appPort;
    const path = this.#o.appHealthPath;
    this.#appHealth = new AppHealth({
      probe: path === undefined ? tcpProbe("127.0.0.1", port) : httpProbe("127.0.0.1", port, path),
      intervalMs,
      timeoutMs: Math.min(1_000, intervalMs),
      clock: this.#clock,
      onChange: (healthy) => {
        this.#log.warn(
          { appPort: port, ...(path === undefined ? {} : { path }) },
          healthy ? "app healthy again: registered" : "app failed its health check: deregistered",
        );
        this.#discovery?.setServing(healthy);
      },
    });
    this.#appHealth.start();
  }

  /** Loaded only here: a static-config sidecar has no identity, stays plain and never loads the X.509 code. */
  async #startMtls(): Promise<void> {
    const data = this.#data;
    const inbound = this.#inbound;
    if (data === undefined || inbound === undefined) return;
    const { MeshTls } = await import("./mtls/mesh-tls.ts");
    this.#mtls = new MeshTls({
      service: this.#o.service,
      account: this.#o.account,
      clock: this.#clock,
      wallNow: Date.now,
      logger: this.#log,
      registry: this.#o.registry,
      identities: this.#identities,
      send: (csr, requestId) => this.#discovery?.requestCertificate(csr, requestId) ?? false,
      useTransports: (connectorFor) => data.useTransports(connectorFor),
    });
    inbound.setAcceptor(this.#mtls.inbound.accept);
    if (this.#snapshot !== undefined) this.#mtls.swap(this.#snapshot);
  }

  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Graceful drain: deregister, keep serving for the drain delay so callers
   * learn of it, stop accepting, then wait for in-flight requests up to the
   * drain timeout.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#drain();
    return this.#stopped;
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    this.#appHealth?.stop();
    this.#discovery?.stop();
    this.#mtls?.stop();
    this.#log.info({ delayMs: this.#o.drainDelayMs, timeoutMs: this.#o.drainTimeoutMs }, "draining");
    await sleep(this.#o.drainDelayMs);
    const servers = [this.#outbound, this.#inbound].filter((s) => s !== undefined);
    const closed = Promise.all(servers.map((s) => s.close()));
    for (const s of servers) s.closeIdle();
    const deadline = Date.now() + this.#o.drainTimeoutMs;
    while ((this.#data?.active ?? 0) > 0 && Date.now() < deadline) await sleep(25);
    // The deadline ends every connection whatever it is doing: mid-request, tunnelled or half-upgraded.
    for (const s of servers) s.destroyAll();
    await Promise.race([closed, sleep(1_000)]);
    this.#data?.close();
    this.#policies.stop();
    await this.#telemetry.shutdown();
    this.#o.accessLogSink?.flushSync?.();
    await this.#saving;
    await this.#appConfig.stop();
    await new Promise<void>((r) => (this.#admin === undefined ? r() : this.#admin.close(() => r())));
    this.#admin?.closeAllConnections();
    this.#log.info({ unfinished: this.#data?.active ?? 0 }, "drained");
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function listen(server: NetServer, at: HostPort): Promise<void> {
  server.listen(at.port, at.host);
  await once(server, "listening");
}

/**
 * The address option of the registration: absent when the inbound listener takes every address, so the stream
 * registers its connection's source address, the one interface the control plane (and so, most likely, its peers)
 * reach this host at; a loopback default would name this host only to itself.
 */
function registrationAddress(advertise: string | undefined, inboundHost: string): { address?: string } {
  if (advertise !== undefined) return { address: advertise };
  return isUnspecified(inboundHost) ? {} : { address: inboundHost };
}

/** The inbound side's one route, to the local app; its endpoint has this instance's labels (its `version`, for metrics). */
function localAppRoute(service: string, appPort: number, labels: Record<string, string>): CompiledHttpRoute {
  const balancer = new RoundRobinBalancer([
    { key: `127.0.0.1:${appPort}`, address: "127.0.0.1", port: appPort, weight: 1, labels, active: 0 },
  ]);
  return {
    name: `inbound/${service}`,
    matchers: [],
    destinations: [{ service, balancer, policy: undefined, usable: undefined }],
    cumulative: Uint32Array.of(1),
    totalWeight: 1,
    timeoutMs: 15_000,
    retry: undefined,
    hashKey: undefined,
    allowsTrace: false,
  };
}

/** A discovery snapshot as a config snapshot: registered endpoints join their Service's static ones (which the snapshot also lists). */
function fromMesh(s: MeshSnapshot, controls: string): ConfigSnapshot {
  const sidecarEndpoints = registeredEndpoints(s);
  const resources: Resource[] = s.resources.map((r) => {
    if (r.kind !== "Service") return r;
    const registered = sidecarEndpoints
      .filter((e) => e.service === r.metadata.name)
      .map((e) => ({ address: e.address, port: e.port, labels: e.labels, weight: e.weight > 0 ? e.weight : 1 }));
    return registered.length === 0 ? r : { ...r, spec: { ...r.spec, endpoints: [...r.spec.endpoints, ...registered] } };
  });
  return { version: String(s.version), source: `control:${controls}`, resources, rejected: s.rejected };
}

/** What telemetry takes from a snapshot: each Service's endpoints and its own access-log setting. */
function telemetryView(snap: CompiledSnapshot): TelemetryView {
  const accessLogs = new Map<string, AccessLogPolicy>();
  for (const r of snap.resources) {
    if (r.kind !== "Service") continue;
    const a = r.spec.accessLog;
    if (a !== undefined) accessLogs.set(r.metadata.name, { mode: a.mode, sampleRate: a.sampleRate ?? 0 });
  }
  return {
    services: [...snap.services.values()].map((s) => ({
      name: s.name,
      endpoints: s.endpoints,
      accessLog: accessLogs.get(s.name),
    })),
  };
}

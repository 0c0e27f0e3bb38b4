import { createHash, randomInt } from "node:crypto";
import { existsSync } from "node:fs";
import type { Server as HttpServer } from "node:http";
import { createServer as createNetServer, isIP } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import { Server as GrpcServer, credentials as grpcCredentials, ServerCredentials } from "@grpc/grpc-js";
import { parseHostPort } from "../common/address.ts";
import { controlFetch } from "../common/control-access.ts";
import { errorMessage, MeshletError } from "../common/errors.ts";
import { routeGrpcLogs } from "../common/grpc-log.ts";
import type { Logger } from "../common/logger.ts";
import { createRegistry } from "../common/metrics.ts";
import { Counter, type Registry } from "../common/prom.ts";
import { DEFAULT_RESOURCE_LIMITS, type ResourceLimits } from "../config/limits.ts";
import { decodeConfChange, encodeConfChange, RawNode } from "../raft/index.ts";
import type { NodeId } from "../raft/types.ts";
import { DiskSnapshotStorage } from "../raft-node/disk-snapshot-storage.ts";
import { Driver, type RaftCore } from "../raft-node/driver.ts";
import { GrpcTransport } from "../raft-node/transport.ts";
import { Wal } from "../raft-node/wal.ts";
import { DEFAULT_TRUST_DOMAIN } from "../security/spiffe.ts";
import { adminTokenPath, ensureAdminTokenFile, proposeAdminToken } from "./auth/bootstrap.ts";
import { guardedAddService } from "./auth/grpc-access.ts";
import { type AuthError, Gatekeeper } from "./auth/guard.ts";
import { accessFor } from "./auth/http-access.ts";
import type { K8sTokenVerifier } from "./auth/k8s-token.ts";
import { bearerFromSubprotocols } from "./auth/token.ts";
import { registerConfigCommands } from "./config/commands.ts";
import { DashboardLive } from "./dashboard/live.ts";
import { dashboardRoutes } from "./dashboard/routes.ts";
import { dashboardSource } from "./dashboard/source.ts";
import type { RegistrationAddressMode } from "./discovery/caller-address.ts";
import { EXTENSIONS } from "./extensions.ts";
import { HeapMode } from "./heap-mode.ts";
import { clusterApi } from "./http/cluster-api.ts";
import { single } from "./http/headers.ts";
import { healthApi } from "./http/health-api.ts";
import { ROUTE_MODULES } from "./http/modules.ts";
import { createHttpServer } from "./http/server.ts";
import { leaderLossTicks } from "./leader-loss.ts";
import { RaftControlNode } from "./raft-control-node.ts";
import { registerRaftMetrics } from "./raft-metrics.ts";
import { caApi } from "./security/ca-api.ts";
import { registerSecurityCommands } from "./security/ca-state.ts";
import { MeshSecurity, type MeshSecurityOptions, nodeCertificateIssuers } from "./security/mesh-ca.ts";
import { RevisionedKv } from "./state/kv.ts";
import { StateMachine } from "./state/machine.ts";
import { raftStateHoldsCa } from "./tls/founding.ts";
import { TlsFrontDoor } from "./tls/front-door.ts";
import { memberCheck } from "./tls/membership.ts";
import { nodeCertificatesApi } from "./tls/node-certs-api.ts";
import { NodeIdentity, type StoredCertificate, UNUSABLE_CERTIFICATE } from "./tls/node-identity.ts";
import { claimableNames } from "./tls/node-names.ts";
import { PeerAuth } from "./tls/peer-auth.ts";

/** A generated root for trust domain cluster.local, 24 h workload certificates (Istio's defaults). */
export const DEFAULT_SECURITY = { trustDomain: DEFAULT_TRUST_DOMAIN, certTtlMs: 24 * 3_600_000 };

/** How long founding members of a new cluster accept each other's self-signed node certificates (--founding-window). */
export const DEFAULT_FOUNDING_WINDOW_MS = 60_000;

/** How often a node checks whether its KV is large enough to favor memory (heap-mode.ts). */
const HEAP_CHECK_MS = 1_000;

export interface ControlOptions {
  id: NodeId;
  dataDir: string;
  grpc: { host: string; port: number };
  http: { host: string; port: number };
  /** Founding members id → peer address (includes this node; for a joiner, the members it knows of). */
  peers: Map<NodeId, string>;
  /** Start empty and wait to be added by the cluster (meshlet cluster add). */
  join: boolean;
  tickMs: number;
  electionTicks: number;
  snapshotEvery: number;
  /** Entries kept in memory behind a snapshot. */
  snapshotKeep: number;
  /** Size limits of applied resources (default DEFAULT_RESOURCE_LIMITS: 1 MiB each, 4 MiB per apply). */
  limits?: ResourceLimits;
  /** Log the founding node's admin token at start (meshlet control --print-admin-token); never otherwise. */
  printAdminToken?: boolean;
  /** The mesh CA: trust domain, workload certificate lifetime, the operator's CA if any (default DEFAULT_SECURITY). */
  security?: Omit<MeshSecurityOptions, "dataDir" | "wallClock">;
  /** Plain HTTP and gRPC, peers unauthenticated (meshlet control --insecure, local development). Default: TLS. */
  insecure?: boolean;
  /** Founding window of a new cluster in ms (default DEFAULT_FOUNDING_WINDOW_MS). */
  foundingWindowMs?: number;
  /** Extra DNS names or IPs for the node certificate (--advertise's host is added by itself). */
  certificateNames?: string[];
  /** A joiner: how it gets a node certificate from a member (POST /v1/cluster/node-certificates). */
  obtainNodeCertificate?: (request: NodeCertificateRequest) => Promise<{ certChainPem: string; bundlePem: string }>;
  /** Verifies Kubernetes service-account tokens of sidecars (--k8s-token-keys); none: only meshlet tokens. */
  kubernetesTokens?: K8sTokenVerifier;
  /** Which addresses sidecars may register (--registration-address; default peer: their connection's). */
  registrationAddress?: RegistrationAddressMode;
  logger: Logger;
}

export interface NodeCertificateRequest {
  id: string;
  publicKeyPem: string;
  names: readonly string[];
}

/** The names a node's certificate carries: its listeners' and advertised hosts, loopback, the host name. */
function certificateNames(o: ControlOptions): string[] {
  const hosts = [o.http.host, o.grpc.host, ...(o.certificateNames ?? [])];
  const advertised = o.peers.get(o.id);
  if (advertised !== undefined) hosts.push(parseHostPort(advertised, "--advertise").host);
  const names = new Set(["127.0.0.1", "::1", "localhost", hostname()]);
  // A wildcard listener is reached at some other address; the host name and loopback cover local use.
  for (const h of hosts)
    if (h !== "" && h !== "0.0.0.0" && h !== "::" && (isIP(h) !== 0 || /^[A-Za-z0-9.-]+$/.test(h))) names.add(h);
  return [...names];
}

/**
 * `meshlet_control_node_certificate_lost_total`, registered at start with every reason at 0: a dashboard or an
 * alert on its rate sees the series before the first loss, not only after a start that lost one.
 */
export function nodeCertificateLostCounter(registry: Registry): Counter<"reason"> {
  const counter = new Counter({
    name: "meshlet_control_node_certificate_lost_total",
    help: "Starts of a node of a running cluster whose stored node certificate was not usable, by reason",
    labelNames: ["reason"],
    registers: [registry],
  });
  for (const reason of UNUSABLE_CERTIFICATE) counter.inc({ reason }, 0);
  return counter;
}

/** Where the node stands at start, decided from its Raft state (run.ts: holdsCa, founding, empty). */
export interface StartState {
  holdsCa: boolean;
  founding: boolean;
  empty: boolean;
}

/**
 * Says what became of `<data-dir>/node-cert.pem` when it was not used. A node of a running cluster lost it:
 * said once with a code, counted, and how the node gets a new one (its own CA copy, or the --join member). A
 * founding or new node replaces one it could not use with a new self-signed certificate, which is what it
 * would have made anyway, but a corrupt or foreign file there is still the operator's to know: a warning with
 * the reason (the parser's message, never the file's content). A missing one is a first start: nothing to say.
 */
export function reportStoredCertificate(
  stored: Exclude<StoredCertificate, "usable">,
  detail: string | undefined,
  state: StartState,
  o: { dataDir: string; logger: Logger },
  lost: Counter<"reason">,
): void {
  const fields = {
    code: "ERR_NODE_CERT_UNUSABLE",
    reason: stored,
    ...(detail === undefined ? {} : { detail }),
    file: join(o.dataDir, "node-cert.pem"),
  };
  const what = `the stored node certificate is ${stored.replace("_", " ")}`;
  if (state.founding || state.empty) {
    if (stored !== "missing") o.logger.warn(fields, `${what}: replaced by a new self-signed one`);
    return;
  }
  lost.inc({ reason: stored });
  const recovery = state.holdsCa
    ? "re-signing it with the mesh CA held in this node's Raft state once its log is replayed (no founding window)"
    : "asking the --join member for a new one (POST /v1/cluster/node-certificates, admin token)";
  o.logger.error(fields, `${what}: ${recovery}`);
}

/**
 * This node's TLS identity at start: the stored one, or a new self-signed one; a joiner whose state holds no CA
 * yet has it signed by its --join member.
 */
async function openIdentity(
  o: ControlOptions,
  clusterId: string,
  state: StartState,
  registry: Registry,
): Promise<NodeIdentity> {
  const lost = nodeCertificateLostCounter(registry);
  const identity = await NodeIdentity.open(
    o.dataDir,
    { nodeId: o.id, clusterId },
    certificateNames(o),
    Date.now(),
    o.logger,
  );
  if (identity.stored !== "usable") reportStoredCertificate(identity.stored, identity.storedDetail, state, o, lost);
  if (o.join && !state.holdsCa && !identity.material().fromMeshCa && o.obtainNodeCertificate !== undefined) {
    // Only the names a member may sign for this node (node-names.ts); the rest come at its next re-signing.
    const claimable = claimableNames(o.id, o.peers.get(o.id) ?? "", o.certificateNames ?? []);
    const issued = await o.obtainNodeCertificate(identity.request((n) => claimable.has(n)));
    identity.install(issued.certChainPem, issued.bundlePem);
  }
  return identity;
}

/** How this node reaches another member's HTTP API (joining): its bearer token, and https unless --insecure. */
export interface PeerApiAccess {
  token?: string;
  insecure?: boolean;
}

function memberUrl(httpAddress: string, path: string, access: PeerApiAccess): string {
  return `${access.insecure === true ? "http" : "https"}://${httpAddress}${path}`;
}

function authHeader(access: PeerApiAccess): Record<string, string> {
  return access.token === undefined ? {} : { authorization: `Bearer ${access.token}` };
}

/** Asks a member (its HTTP address) for the cluster id and membership before starting empty. */
export async function fetchCluster(
  httpAddress: string,
  access: PeerApiAccess = {},
): Promise<{ clusterId: string; members: { id: string; address: string }[] }> {
  const url = memberUrl(httpAddress, "/v1/cluster", access);
  const res = await controlFetch(url, { headers: authHeader(access), signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new MeshletError("ERR_JOIN", `GET ${url} answered ${res.status}`);
  return (await res.json()) as { clusterId: string; members: { id: string; address: string }[] };
}

/** Adds this node as a learner through the member at `httpAddress`; being a member already is fine (a restart). */
export async function requestJoin(
  httpAddress: string,
  id: string,
  grpcAddress: string,
  access: PeerApiAccess = {},
): Promise<void> {
  const res = await controlFetch(memberUrl(httpAddress, "/v1/cluster/members", access), {
    method: "POST",
    headers: { "content-type": "application/json", ...authHeader(access) },
    body: JSON.stringify({ id, address: grpcAddress, learner: true }),
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok && res.status !== 409)
    throw new MeshletError("ERR_JOIN", `joining through ${httpAddress} failed: ${res.status} ${await res.text()}`);
}

/** Asks a member to sign this joining node's certificate (admin token). */
export async function requestNodeCertificate(
  httpAddress: string,
  request: NodeCertificateRequest,
  access: PeerApiAccess = {},
): Promise<{ certChainPem: string; bundlePem: string }> {
  const res = await controlFetch(memberUrl(httpAddress, "/v1/cluster/node-certificates", access), {
    method: "POST",
    headers: { "content-type": "application/json", ...authHeader(access) },
    body: JSON.stringify(request),
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok)
    throw new MeshletError("ERR_JOIN", `node certificate from ${httpAddress}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { certChainPem: string; bundlePem: string };
}

export interface RunningControl {
  node: RaftControlNode;
  /** The mesh CA (signs workload and node certificates). */
  security: MeshSecurity;
  grpcPort: number;
  httpPort: number;
  /** Stop serving, hand leadership over when leading, flush, close. */
  shutdown(): Promise<void>;
}

/** The cluster id guards data dirs and peer traffic: founding members agree on it by construction. */
export function clusterIdFor(memberIds: Iterable<NodeId>): string {
  const ids = [...memberIds].sort().join(",");
  return `c-${createHash("sha256").update(ids).digest("hex").slice(0, 16)}`;
}

export async function startControl(o: ControlOptions, clusterId: string): Promise<RunningControl> {
  const { logger } = o;
  routeGrpcLogs(logger);
  const registry = createRegistry();
  const { wal, recovered } = Wal.open({
    dir: o.dataDir,
    nodeId: o.id,
    clusterId,
    logger,
    onFsync: Driver.fsyncObserver(registry),
  });
  const storage = DiskSnapshotStorage.fromWal(wal, recovered);
  const empty = recovered.snapshot === undefined && recovered.entries.length === 0 && recovered.hardState.term === 0;
  if (empty && !o.join) {
    RawNode.bootstrap(storage, [...o.peers.keys()]);
    wal.save(storage.initialState().hardState, storage.entries(1, storage.lastIndex() + 1, Number.POSITIVE_INFINITY));
  }

  // --print-admin-token logs the token of a new cluster once, at the start that made it; a restart with the flag
  // still in its unit file does not write the secret to the logs again.
  const tokenMadeNow = empty && !o.join && !existsSync(adminTokenPath(o.dataDir));
  const adminToken = ensureAdminTokenFile(o.dataDir, empty && !o.join);
  const sm = new StateMachine(new RevisionedKv());
  registerConfigCommands(sm);
  registerSecurityCommands(sm);
  for (const ext of EXTENSIONS) ext.register(sm);
  if (recovered.snapshot !== undefined) sm.restore(recovered.snapshot.data);
  // Decided from Raft state, not from the certificate file: a node whose state holds the mesh CA is a member of
  // a running cluster, and one that lost its certificate must not open a founding window (anyone can make a
  // self-signed certificate for a founder's name). It re-signs its own certificate once its log is replayed.
  const holdsCa = raftStateHoldsCa(sm.kv, recovered.entries, recovered.hardState.commit);
  const founding = !o.join && !holdsCa;
  const identity =
    o.insecure === true ? undefined : await openIdentity(o, clusterId, { holdsCa, founding, empty }, registry);
  // Who may make peer calls follows the applied Raft configuration, read from the driver once it exists.
  let isMember: (id: NodeId) => boolean = (id) => o.peers.has(id);
  const peerAuth =
    identity === undefined
      ? undefined
      : new PeerAuth({
          identity,
          founders: new Set(o.peers.keys()),
          foundingUntil: founding ? Date.now() + (o.foundingWindowMs ?? DEFAULT_FOUNDING_WINDOW_MS) : 0,
          now: () => Date.now(),
          isMember: (id) => isMember(id),
          registry,
          logger,
        });
  const node = new RaftControlNode({
    id: o.id,
    sm,
    logger,
    registry,
    encodeConfChange,
    decodeConfChange,
    peers: o.peers,
  });
  const newCore = (s: DiskSnapshotStorage, applied: number) =>
    new RawNode({
      id: o.id,
      electionTick: o.electionTicks,
      heartbeatTick: 1,
      storage: s,
      random: { intn: (n) => randomInt(n) },
      applied,
      ...leaderLossTicks(o.tickMs, o.electionTicks),
    });
  const core = newCore(storage, recovered.snapshot?.metadata.index ?? 0);
  let driver: Driver | undefined;
  const feed = (fn: (c: RaftCore) => void) => {
    try {
      driver?.input(fn);
    } catch (err) {
      logger.debug({ err: errorMessage(err) }, "Raft input refused");
    }
  };
  const grpcAddress = `${o.grpc.host}:${o.grpc.port}`;
  const transport = new GrpcTransport({
    id: o.id,
    address: o.peers.get(o.id) ?? grpcAddress,
    clusterId,
    logger,
    registry,
    ...(peerAuth === undefined ? {} : { credentials: (id: NodeId) => peerAuth.credentials(id) }),
    ...(peerAuth === undefined ? {} : { senderOf: (call: { getPeer(): string }) => peerAuth.senderOf(call) }),
    sink: {
      receive: (m) => feed((c) => c.step(m)),
      unreachable: (id) => feed((c) => c.reportUnreachable(id)),
      snapshotDone: (id, ok) => feed((c) => c.reportSnapshot(id, ok)),
      forward: (data, confChange) => node.acceptForward(data, confChange),
    },
  });
  for (const [id, address] of o.peers) transport.setPeer(id, address);
  driver = new Driver({
    core,
    storage,
    wal,
    transport,
    applier: node,
    decodeConfChange,
    logger,
    registry,
    tickMs: o.tickMs,
    snapshotEvery: o.snapshotEvery,
    keepEntries: o.snapshotKeep,
    rebuild: (applied) => {
      const fromDisk = DiskSnapshotStorage.fromWal(wal, wal.reload(), applied);
      return { core: newCore(fromDisk, applied), storage: fromDisk };
    },
    onStorage: (health) => transport.refuse(health.ok ? undefined : health.message),
    onFatal: () => process.kill(process.pid, "SIGTERM"),
  });
  node.attach(driver, transport);
  const raft = driver;
  isMember = memberCheck(o.id, () => raft.confState, new Set(o.peers.keys()));
  if (peerAuth !== undefined) {
    let seen = raft.confState;
    node.on("applied", () => {
      if (raft.confState === seen) return;
      seen = raft.confState;
      peerAuth.enforceMembership();
    });
  }
  registerRaftMetrics(registry, node);
  const security = new MeshSecurity(
    node,
    { ...(o.security ?? DEFAULT_SECURITY), dataDir: o.dataDir, wallClock: () => Date.now() },
    logger,
    registry,
  );
  if (identity !== undefined)
    security.onChange((current) =>
      identity.adoptCa(current.ca, current.bundlePem, nodeCertificateIssuers(current, Date.now()), Date.now()),
    );

  const grpcServer = new GrpcServer({ "grpc.max_receive_message_length": 64 * 1024 * 1024 });
  const addService = (s: Parameters<GrpcServer["addService"]>[0], impl: Parameters<GrpcServer["addService"]>[1]) =>
    grpcServer.addService(s, impl);
  const peerGuarded = peerAuth === undefined ? addService : peerAuth.guard(addService);
  transport.serve({ addService: peerGuarded });
  const gate = new Gatekeeper(node.kv, registry, Date.now, o.kubernetesTokens);
  const guarded = { addService: guardedAddService(gate, peerGuarded) };
  const extensionRoutes = EXTENSIONS.flatMap((ext) =>
    ext.start({
      node,
      grpcServer: guarded,
      logger,
      registry,
      limits: o.limits ?? DEFAULT_RESOURCE_LIMITS,
      security,
      peerCredentials: (nodeId) => peerAuth?.credentials(nodeId) ?? grpcCredentials.createInsecure(),
      registrationAddress: o.registrationAddress ?? "peer",
    }),
  );
  const front = identity === undefined ? undefined : new TlsFrontDoor(registry);
  let grpcListener: ReturnType<typeof createNetServer> | undefined;
  let grpcPort: number;
  if (identity === undefined || front === undefined || peerAuth === undefined) {
    grpcPort = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync(grpcAddress, ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(new MeshletError("ERR_LISTEN", `gRPC listener ${grpcAddress}: ${err.message}`)) : resolve(port),
      ),
    );
  } else {
    // TLS is ours (front-door.ts), not grpc-js's: the certificate changes, and plain clients get a readable refusal.
    const injector = grpcServer.createConnectionInjector(ServerCredentials.createInsecure());
    const listener = createNetServer();
    grpcListener = listener;
    front.serveGrpc(listener, identity.serverContext(), (socket) => {
      peerAuth.remember(socket);
      injector.injectConnection(socket);
    });
    grpcPort = await new Promise<number>((resolve, reject) => {
      listener.once("error", (err) =>
        reject(new MeshletError("ERR_LISTEN", `gRPC listener ${grpcAddress}: ${err.message}`)),
      );
      listener.listen(o.grpc.port, o.grpc.host, () => {
        const a = listener.address();
        resolve(typeof a === "object" && a !== null ? a.port : o.grpc.port);
      });
    });
    identity.onChange(() => front.update(identity.serverContext()));
  }
  const dashboard = dashboardSource(node, clusterId);
  const http: HttpServer = createHttpServer(
    node,
    [
      ...ROUTE_MODULES,
      ...extensionRoutes,
      clusterApi(node, clusterId, o.tickMs),
      healthApi(node),
      dashboardRoutes(dashboard),
      caApi(security, registry, logger),
      nodeCertificatesApi({
        security,
        clusterId,
        members: () => node.members(),
        extraNames: o.certificateNames ?? [],
        registry,
        logger,
      }),
    ],
    registry,
    logger,
    (call) =>
      gate.check("http", single(call.headers.authorization), accessFor(call.method, call.route, call.params))?.name,
  );
  // The dashboard's live feed is a WebSocket: upgrades never reach the request router.
  const live = new DashboardLive(dashboard, logger);
  http.on("upgrade", (req, socket, head) => {
    try {
      gate.check("http", bearerFromSubprotocols(req.headers["sec-websocket-protocol"]), { kind: "read" });
    } catch (err) {
      const { status, code, message } = err as AuthError;
      const body = JSON.stringify({ error: { code, message } });
      socket.end(
        `HTTP/1.1 ${status} ${status === 401 ? "Unauthorized" : "Forbidden"}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      return;
    }
    if (!live.upgrade(req, socket, head))
      socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
  });
  if (identity !== undefined) front?.wrapHttp(http, identity.serverContext());
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(o.http.port, o.http.host, () => resolve());
  });
  const address = http.address();
  const httpPort = typeof address === "object" && address !== null ? address.port : o.http.port;
  driver.start();
  security.start();
  const heapMode = new HeapMode();
  const heapCheck = setInterval(() => heapMode.update(node.kv.size), HEAP_CHECK_MS).unref();
  // A lone voter need not wait out an election timeout.
  if (o.peers.size === 1 && !o.join) feed((c) => c.campaign());
  let stopping = false;
  if (adminToken !== undefined) {
    if (o.printAdminToken === true && tokenMadeNow) logger.info({ adminToken }, "admin token (--print-admin-token)");
    else if (o.printAdminToken === true)
      logger.info(
        { file: adminTokenPath(o.dataDir) },
        "admin token not printed: --print-admin-token prints it at the start that made it only; it is in the file",
      );
    void proposeAdminToken(node, adminToken, logger, () => stopping).then((created) => {
      if (created) logger.info({ name: `admin-${o.id}`, file: adminTokenPath(o.dataDir) }, "admin token created");
    });
  }

  const shutdown = async (): Promise<void> => {
    stopping = true;
    clearInterval(heapCheck);
    security.stop();
    for (const ext of EXTENSIONS) {
      await Promise.resolve(ext.stop()).catch((err: unknown) => {
        logger.warn({ extension: ext.name, err: errorMessage(err) }, "extension failed to stop");
      });
    }
    live.close();
    front?.close();
    grpcListener?.close();
    http.close();
    http.closeAllConnections();
    if (node.isLeader()) {
      const others = node.members().filter((m) => m.role === "voter" && m.id !== o.id);
      const best = others.sort((a, b) => b.matchIndex - a.matchIndex)[0];
      if (best !== undefined) {
        await node.transferLeader(best.id, 2_000).catch((err: unknown) => {
          logger.warn({ to: best.id, err: errorMessage(err) }, "leadership transfer before exit failed");
        });
      }
    }
    node.stop();
    driver?.stop();
    transport.close();
    grpcServer.forceShutdown();
    wal.close();
  };
  return { node, security, grpcPort, httpPort, shutdown };
}

import type { Command } from "commander";
import { parseHostPort } from "../../common/address.ts";
import { errorCode, errorMessage, UsageError } from "../../common/errors.ts";
import type { LogLevel } from "../../common/log-levels.ts";
import {
  DEFAULT_MAX_APPLY_BYTES,
  DEFAULT_MAX_RESOURCE_BYTES,
  MAX_APPLY_BYTES_CEILING,
  type ResourceLimits,
} from "../../config/limits.ts";
import {
  REGISTRATION_ADDRESS_MODES,
  type RegistrationAddressMode,
} from "../../controlplane/discovery/caller-address.ts";
import {
  byteSizeFlag,
  commandLogLevel,
  durationFlag,
  envOption,
  logLevelOption,
  parsePositiveInt,
} from "../options.ts";
import { stopWithParent } from "../parent.ts";

interface ControlFlags {
  id: string;
  dataDir: string;
  grpc: string;
  http: string;
  peers?: string;
  join?: string;
  advertise?: string;
  /** Strings when they come from the defaults (commander parses given values only). */
  tickMs: number | string;
  electionTicks: number | string;
  snapshotEvery: number | string;
  snapshotKeep: number | string;
  maxResourceBytes: number | string;
  maxApplyBytes: number | string;
  maxValueSize: number | string;
  trustDomain: string;
  certTtl: string;
  caCert?: string;
  caKey?: string;
  k8sTokenKeys?: string;
  k8sTokenIssuer?: string;
  k8sTokenAudience: string;
  logLevel: LogLevel;
  insecure?: boolean;
  foundingWindow: string;
  printAdminToken?: boolean;
  certificateNames?: string;
  registrationAddress: RegistrationAddressMode;
}

/** --certificate-names: DNS names or IPs, comma-separated; a name a TLS client could not match is a usage error. */
async function certificateNamesFlag(value: string | undefined): Promise<string[]> {
  if (value === undefined) return [];
  const { isCertificateName } = await import("../../controlplane/tls/node-names.ts");
  const names = value
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  for (const n of names)
    if (!isCertificateName(n))
      throw new UsageError(`--certificate-names: "${n}" is not a DNS name or an IP address (no wildcards, no ports)`);
  return names;
}

function registrationAddressFlag(value: string): RegistrationAddressMode {
  const mode = REGISTRATION_ADDRESS_MODES.find((m) => m === value);
  if (mode === undefined)
    throw new UsageError(
      `--registration-address: expected one of ${REGISTRATION_ADDRESS_MODES.join(", ")}, got "${value}"`,
    );
  return mode;
}

/** --max-resource-bytes within --max-apply-bytes, and that within what one Raft entry holds. */
function resourceLimits(flags: ControlFlags): ResourceLimits {
  const maxResourceBytes = byteSizeFlag("--max-resource-bytes")(String(flags.maxResourceBytes));
  const maxTotalBytes = byteSizeFlag("--max-apply-bytes")(String(flags.maxApplyBytes));
  if (maxTotalBytes > MAX_APPLY_BYTES_CEILING)
    throw new UsageError(`--max-apply-bytes: at most ${MAX_APPLY_BYTES_CEILING} (one apply is one Raft entry)`);
  if (maxResourceBytes > maxTotalBytes)
    throw new UsageError(`--max-resource-bytes (${maxResourceBytes}) exceeds --max-apply-bytes (${maxTotalBytes})`);
  return { maxResourceBytes, maxTotalBytes };
}

/** --k8s-token-*: a verifier when --k8s-token-keys is given; the issuer is then required. */
async function kubernetesTokenOptions(flags: ControlFlags) {
  if (flags.k8sTokenKeys === undefined || flags.k8sTokenKeys === "") {
    if (flags.k8sTokenIssuer !== undefined) throw new UsageError("--k8s-token-issuer needs --k8s-token-keys");
    return undefined;
  }
  const { K8sTokenVerifier } = await import("../../controlplane/auth/k8s-token.ts");
  return K8sTokenVerifier.load({
    keysFile: flags.k8sTokenKeys,
    issuer: flags.k8sTokenIssuer ?? "",
    audience: flags.k8sTokenAudience,
  });
}

/** Workload certificates rotate at half life: below this they would churn the control plane. */
const MIN_CERT_TTL_MS = 10_000;

/** --trust-domain, --cert-ttl, --ca-cert/--ca-key, checked before anything starts (a bad CA is a usage error). */
async function securityOptions(flags: ControlFlags) {
  const [{ isTrustDomain }, { loadOperatorCa }] = await Promise.all([
    import("../../security/spiffe.ts"),
    import("../../security/operator-ca.ts"),
  ]);
  if (!isTrustDomain(flags.trustDomain))
    throw new UsageError(`--trust-domain: expected a DNS-like name of [a-z0-9._-], got "${flags.trustDomain}"`);
  const certTtlMs = durationFlag("--cert-ttl", flags.certTtl);
  if (certTtlMs < MIN_CERT_TTL_MS) throw new UsageError(`--cert-ttl: at least ${MIN_CERT_TTL_MS / 1000}s`);
  if ((flags.caCert === undefined) !== (flags.caKey === undefined))
    throw new UsageError("--ca-cert and --ca-key go together");
  const operatorCa =
    flags.caCert === undefined || flags.caKey === undefined ? undefined : loadOperatorCa(flags.caCert, flags.caKey);
  return { trustDomain: flags.trustDomain, certTtlMs, ...(operatorCa === undefined ? {} : { operatorCa }) };
}

function parsePeers(value: string): Map<string, string> {
  const peers = new Map<string, string>();
  for (const part of value.split(",").filter((p) => p.trim() !== "")) {
    const [id, address] = part.split("=");
    if (id === undefined || address === undefined || id === "")
      throw new UsageError(`--peers: expected id=host:port,..., got "${part}"`);
    parseHostPort(address, `--peers ${id}`);
    if (peers.has(id)) throw new UsageError(`--peers: ${id} is listed twice`);
    peers.set(id, address);
  }
  return peers;
}

export function registerControl(program: Command): void {
  program
    .command("control")
    .description("run a control-plane node (single embedded node by default)")
    .addOption(envOption("--id <id>", "this node's id", "n1"))
    .addOption(envOption("--data-dir <dir>", "WAL and snapshots", ".meshlet/control"))
    .addOption(envOption("--grpc <host:port>", "peer and sidecar gRPC address", "127.0.0.1:15010"))
    .addOption(envOption("--http <host:port>", "JSON API and /metrics", "127.0.0.1:15014"))
    .addOption(envOption("--peers <list>", "founding members id=host:port,... (including this node)"))
    .addOption(
      envOption("--join <host:port>", "HTTP address of a member: start empty and join its cluster as a learner"),
    )
    .addOption(
      envOption(
        "--advertise <host:port>",
        "the gRPC address the other members reach this node at, e.g. its stable DNS name (default: --grpc)",
      ),
    )
    .addOption(envOption("--tick-ms <ms>", "Raft tick", "100").argParser(parsePositiveInt("--tick-ms")))
    .addOption(
      envOption("--election-ticks <n>", "election timeout in ticks (randomized up to 2x)", "10").argParser(
        parsePositiveInt("--election-ticks"),
      ),
    )
    .addOption(
      envOption("--snapshot-every <n>", "snapshot after this many applied entries", "10000").argParser(
        parsePositiveInt("--snapshot-every"),
      ),
    )
    .addOption(
      envOption(
        "--snapshot-keep <n>",
        "entries kept behind a snapshot for followers that lag a little",
        "1000",
      ).argParser(parsePositiveInt("--snapshot-keep")),
    )
    .addOption(
      envOption(
        "--max-resource-bytes <size>",
        "largest resource, encoded as canonical JSON (413 beyond; bytes, or with KiB/MiB)",
        String(DEFAULT_MAX_RESOURCE_BYTES),
      ).argParser(byteSizeFlag("--max-resource-bytes")),
    )
    .addOption(
      envOption(
        "--max-apply-bytes <size>",
        "largest apply: its body, and its resources encoded together (413 beyond; bytes, or with KiB/MiB)",
        String(DEFAULT_MAX_APPLY_BYTES),
      ).argParser(byteSizeFlag("--max-apply-bytes")),
    )
    .addOption(
      envOption(
        "--max-value-size <size>",
        "largest app-config value accepted by this node (413 beyond; bytes, or with KiB/MiB)",
        "1MiB",
      ).argParser(byteSizeFlag("--max-value-size")),
    )
    .addOption(
      envOption(
        "--insecure",
        "plain HTTP and gRPC without TLS, peers unauthenticated: local development only (tokens are still required)",
      ),
    )
    .addOption(
      envOption(
        "--founding-window <duration>",
        "how long the founding members of a new cluster accept each other's self-signed node certificates (0: never)",
        "60s",
      ),
    )
    .addOption(
      envOption(
        "--print-admin-token",
        "log the admin token of a new cluster at start (it is in <data-dir>/admin-token)",
      ),
    )
    .addOption(
      envOption(
        "--certificate-names <names>",
        "extra DNS names or IPs for this node's certificate, comma-separated, e.g. the client Service's name (give every node the same; members sign joiners' certificates with them)",
      ),
    )
    .addOption(envOption("--trust-domain <domain>", "SPIFFE trust domain of workload identities", "cluster.local"))
    .addOption(envOption("--cert-ttl <duration>", "lifetime of sidecar certificates (renewed at half life)", "24h"))
    .addOption(
      envOption("--ca-cert <file>", "PEM CA certificate (e.g. an intermediate, followed by its chain up to the root)"),
    )
    .addOption(envOption("--ca-key <file>", "PEM private key of --ca-cert (default: the mesh generates its own root)"))
    .addOption(
      envOption(
        "--k8s-token-keys <file>",
        "verify Kubernetes service-account tokens of sidecars with these keys (PEM or JWKS; off without it)",
      ),
    )
    .addOption(envOption("--k8s-token-issuer <iss>", "the issuer Kubernetes service-account tokens must name"))
    .addOption(envOption("--k8s-token-audience <aud>", "the audience those tokens must be for", "meshlet"))
    .addOption(
      envOption(
        "--registration-address <mode>",
        "addresses a sidecar may register: peer (only its connection's source address) or any (sidecars behind NAT or a proxy)",
        "peer",
      ).argParser(registrationAddressFlag),
    )
    .addOption(logLevelOption())
    .action(async (flags: ControlFlags, cmd: Command) => {
      const grpc = parseHostPort(flags.grpc, "--grpc");
      const limits = resourceLimits(flags);
      const foundingWindowMs = durationFlag("--founding-window", flags.foundingWindow, true);
      const security = await securityOptions(flags);
      const certificateNames = await certificateNamesFlag(flags.certificateNames);
      const kubernetesTokens = await kubernetesTokenOptions(flags);
      const http = parseHostPort(flags.http, "--http");
      const advertise = flags.advertise ?? flags.grpc;
      if (flags.advertise !== undefined) parseHostPort(flags.advertise, "--advertise");
      const peers = flags.peers === undefined ? new Map([[flags.id, advertise]]) : parsePeers(flags.peers);
      const listed = flags.peers === undefined ? undefined : peers.get(flags.id);
      if (listed !== undefined && flags.advertise !== undefined && listed !== flags.advertise)
        throw new UsageError(`--advertise ${flags.advertise} differs from this node's address in --peers (${listed})`);
      // A founding member (listed in --peers) bootstraps with them and ignores --join, so one StatefulSet
      // template serves both: its first pods found the cluster, the ones added by scaling up join it.
      const join = flags.join !== undefined && !(flags.peers !== undefined && peers.has(flags.id));
      if (!join && !peers.has(flags.id)) throw new UsageError(`--peers must include this node (${flags.id})`);
      // Loaded here, not at the top: the other commands (a sidecar above all) never pay for the control plane.
      const [
        { createLogger },
        { clusterIdFor, fetchCluster, requestJoin, requestNodeCertificate, startControl },
        valueLimit,
      ] = await Promise.all([
        import("../../common/logger.ts"),
        import("../../controlplane/run.ts"),
        import("../../controlplane/config/limits.ts"),
      ]);
      valueLimit.setMaxValueBytes(byteSizeFlag("--max-value-size")(String(flags.maxValueSize)));
      const logger = createLogger(commandLogLevel(cmd), { component: "control", node: flags.id });
      if (flags.insecure === true)
        logger.warn(
          { http: flags.http, grpc: flags.grpc },
          "--insecure: the control plane serves plain HTTP and gRPC and does not authenticate its peers; tokens and data cross the network in clear text. For local development only",
        );
      const { controlAccess } = await import("../../common/control-access.ts");
      const insecure = flags.insecure === true;
      const peerAccess = {
        ...(controlAccess().token === undefined ? {} : { token: controlAccess().token }),
        insecure,
      };
      let clusterId = clusterIdFor(peers.keys());
      if (flags.join !== undefined) parseHostPort(flags.join, "--join");
      if (join && flags.join !== undefined) {
        const cluster = await fetchCluster(flags.join, peerAccess).catch((err: unknown) => {
          throw new UsageError(`--join ${flags.join}: ${errorMessage(err)}`);
        });
        clusterId = cluster.clusterId;
        peers.clear();
        for (const m of cluster.members) if (m.address !== "") peers.set(m.id, m.address);
        peers.set(flags.id, advertise);
      }
      // A joiner is added as a learner first: the members sign node certificates for members only.
      if (join && flags.join !== undefined) {
        try {
          await requestJoin(flags.join, flags.id, advertise, peerAccess);
        } catch (err) {
          process.stderr.write(`meshlet control: ${errorMessage(err)}\n`);
          process.exit(2);
        }
      }
      let running: Awaited<ReturnType<typeof startControl>>;
      try {
        running = await startControl(
          {
            id: flags.id,
            dataDir: flags.dataDir,
            grpc,
            http,
            peers,
            join,
            tickMs: Number(flags.tickMs),
            electionTicks: Number(flags.electionTicks),
            snapshotEvery: Number(flags.snapshotEvery),
            snapshotKeep: Number(flags.snapshotKeep),
            limits,
            printAdminToken: flags.printAdminToken === true,
            security,
            insecure,
            foundingWindowMs,
            certificateNames,
            ...(join && flags.join !== undefined
              ? {
                  obtainNodeCertificate: (request: Parameters<typeof requestNodeCertificate>[1]) =>
                    requestNodeCertificate(flags.join as string, request, peerAccess),
                }
              : {}),
            ...(kubernetesTokens === undefined ? {} : { kubernetesTokens }),
            registrationAddress: flags.registrationAddress,
            logger,
          },
          clusterId,
        );
      } catch (err) {
        process.stderr.write(`meshlet control: ${errorMessage(err)} (${errorCode(err)})\n`);
        process.exit(2);
      }
      logger.info(
        { grpc: running.grpcPort, http: running.httpPort, peers: Object.fromEntries(peers) },
        "control plane ready",
      );
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        running.shutdown().then(
          () => process.exit(0),
          (err: unknown) => {
            logger.error({ err: errorMessage(err) }, "shutdown failed");
            process.exit(1);
          },
        );
      };
      process.on("SIGTERM", stop);
      process.on("SIGINT", stop);
      stopWithParent(stop);
    });
}

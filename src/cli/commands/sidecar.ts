import { readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { parseHostPort } from "../../common/address.ts";
import { CaFile } from "../../common/ca-file.ts";
import { controlAccess, controlCaPem } from "../../common/control-access.ts";
import { errorCode, errorMessage, UsageError } from "../../common/errors.ts";
import { canonicalIp, isUnspecified } from "../../common/ip.ts";
import type { LogLevel } from "../../common/log-levels.ts";
import type { Logger } from "../../common/logger.ts";
import { isNamespace, isServiceAccountName } from "../../config/kube-names.ts";
import type { Sidecar } from "../../sidecar/sidecar.ts";
import { commandLogLevel, durationFlag, envName, envOption, logLevelOption } from "../options.ts";
import { stopWithParent } from "../parent.ts";

interface SidecarFlags {
  service?: string;
  namespace?: string;
  serviceAccount?: string;
  tokenFile?: string;
  appPort?: string;
  outbound: string;
  inbound: string;
  advertiseAddress?: string;
  admin: string;
  control?: string;
  config?: string;
  dataDir?: string;
  labels?: string;
  instance?: string;
  configDir?: string;
  drainDelay: string;
  drainTimeout: string;
  connectTimeout: string;
  streamIdleTimeout: string;
  downstreamIdleTimeout: string;
  appHealthInterval: string;
  appHealthPath?: string;
  redis?: string;
  engine: string;
  mergeSlashes?: boolean;
  faults?: boolean;
  escapedSlashes: string;
  accessLog: string;
  accessLogSampleRate: string;
  accessLogFile?: string;
  tracingEndpoint?: string;
  tracingSampleRate: string;
  logLevel: LogLevel;
}

const ENGINES = ["meshlet"] as const;
const ESCAPED_SLASHES = ["keep", "reject", "decode"] as const;

function oneOf<T extends string>(flag: string, allowed: readonly T[], value: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${flag}: expected one of ${allowed.join(", ")}, got "${value}"`);
}

const ACCESS_LOG_MODES = ["off", "sampled", "all"] as const;
type AccessLogMode = (typeof ACCESS_LOG_MODES)[number];

/** A share between 0 and 1 ("0.05"), for the sampling flags. */
function rateFlag(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1)
    throw new UsageError(`${flag}: expected a number from 0 to 1, got "${value}"`);
  return n;
}

function accessLogModeFlag(value: string): AccessLogMode {
  const mode = ACCESS_LOG_MODES.find((m) => m === value);
  if (mode === undefined) throw new UsageError(`--access-log: expected one of off, sampled, all, got "${value}"`);
  return mode;
}

/** An OTLP/HTTP URL: http or https, with a host. */
function tracingEndpointFlag(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--tracing-endpoint: expected a URL such as http://collector:4318/v1/traces, got "${value}"`);
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "")
    throw new UsageError(`--tracing-endpoint: expected an http(s) URL, got "${value}"`);
  return url.href;
}

function parseLabels(value: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (value ?? "").split(",").filter((p) => p.trim() !== "")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new UsageError(`--labels: expected k=v,..., got "${part}"`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

export function registerSidecar(program: Command): void {
  program
    .command("sidecar")
    .description("run the sidecar proxy next to one app instance")
    .addOption(envOption("--service <name>", "the service this app instance belongs to"))
    .addOption(
      envOption(
        "--namespace <name>",
        "Kubernetes namespace of the workload (with --service-account: identity spiffe://TD/ns/NS/sa/SA)",
      ),
    )
    .addOption(
      envOption(
        "--service-account <name>",
        "Kubernetes service account of the workload; the Service must list it in spec.serviceAccounts",
      ),
    )
    .addOption(
      envOption(
        "--token-file <file>",
        "read the control-plane token from this file at every (re)connect (a projected Kubernetes token)",
      ),
    )
    .addOption(envOption("--app-port <port>", "the local app's port (inbound traffic goes to 127.0.0.1:PORT)"))
    .addOption(envOption("--outbound <host:port>", "listener for the app's outgoing calls", "127.0.0.1:15001"))
    .addOption(envOption("--inbound <host:port>", "listener for calls to this app", "0.0.0.0:15006"))
    .addOption(
      envOption(
        "--advertise-address <ip>",
        "the address this instance registers (default: the --inbound host; when that is 0.0.0.0 or ::, the source address of the connection to the control plane)",
      ),
    )
    .addOption(envOption("--admin <host:port>", "admin listener", "127.0.0.1:15000"))
    .addOption(envOption("--control <list>", "control-plane gRPC addresses host:port,..."))
    .addOption(envOption("--config <file>", "static config: multi-document YAML of resources (no control plane)"))
    .addOption(envOption("--data-dir <dir>", "keeps the last good snapshot; used at boot when the source fails"))
    .addOption(envOption("--labels <k=v,...>", "labels of this instance when it registers"))
    .addOption(
      envOption("--instance <name>", "the name this instance registers under (default: <hostname>-<inbound port>)"),
    )
    .addOption(
      envOption("--config-dir <dir>", "also write the app's config keys here as files (replaced by atomic rename)"),
    )
    .addOption(envOption("--drain-delay <duration>", "keep serving this long after SIGTERM", "2s"))
    .addOption(envOption("--drain-timeout <duration>", "then wait this long for in-flight requests", "10s"))
    .addOption(envOption("--connect-timeout <duration>", "upstream connect timeout", "1s"))
    .addOption(
      envOption(
        "--stream-idle-timeout <duration>",
        "close a client connection idle this long mid-request (0: never)",
        "5m",
      ),
    )
    .addOption(
      envOption(
        "--downstream-idle-timeout <duration>",
        "close a keep-alive client connection with no request for this long (0: never)",
        "1h",
      ),
    )
    .addOption(
      envOption(
        "--app-health-interval <duration>",
        "probe the app this often; an app failing it is deregistered until it passes (0: off)",
        "1s",
      ),
    )
    .addOption(
      envOption("--app-health-path <path>", "probe the app with a GET of this path (2xx/3xx) instead of a TCP connect"),
    )
    .addOption(envOption("--redis <host:port>", "Redis that keeps the budget of scope: global rate limits"))
    .addOption(
      envOption(
        "--engine <name>",
        "data path: meshlet (the HTTP/1.1 engine on raw sockets; the old node path was removed)",
        "meshlet",
      ),
    )
    .addOption(
      new Option("--no-faults", "refuse every route fault and fault experiment (production sidecars)").env(
        envName("--no-faults"),
      ),
    )
    .addOption(
      new Option("--merge-slashes", "merge repeated slashes of request paths before routing and forwarding").env(
        envName("--merge-slashes"),
      ),
    )
    .addOption(
      envOption(
        "--escaped-slashes <action>",
        `what %2F and %5C in request paths do: ${ESCAPED_SLASHES.join(", ")}`,
        "keep",
      ),
    )
    .addOption(envOption("--access-log <mode>", "access log of Services that set none: off, sampled or all", "off"))
    .addOption(envOption("--access-log-sample-rate <0-1>", "share of requests logged by --access-log sampled", "0.01"))
    .addOption(envOption("--access-log-file <path>", "write access log lines to this file instead of stdout"))
    .addOption(
      envOption("--tracing-endpoint <url>", "export spans by OTLP/HTTP to this URL (tracing is off without it)"),
    )
    .addOption(
      envOption("--tracing-sample-rate <0-1>", "share of new traces sampled (a caller's decision is kept)", "0.01"),
    )
    .addOption(logLevelOption())
    .action(async (flags: SidecarFlags, cmd: Command) => {
      if (flags.service === undefined || flags.service === "") throw new UsageError("--service is required");
      if (flags.appPort === undefined || flags.appPort === "") throw new UsageError("--app-port is required");
      const account = accountFlags(flags.namespace, flags.serviceAccount);
      const token = tokenSource(flags.tokenFile);
      const appPort = Number(flags.appPort);
      if (!Number.isInteger(appPort) || appPort < 1 || appPort > 65535)
        throw new UsageError(`--app-port: expected a port, got "${flags.appPort ?? ""}"`);
      // `node` named the node:http + undici path, deleted in issue 28: said so rather than "expected meshlet".
      if (flags.engine === "node")
        throw new UsageError(
          "--engine node was removed (the node:http + undici data path is gone): use --engine meshlet",
        );
      oneOf("--engine", ENGINES, flags.engine);
      const escapedSlashes = oneOf("--escaped-slashes", ESCAPED_SLASHES, flags.escapedSlashes);
      const logLevel = commandLogLevel(cmd);
      const controls = (flags.control ?? "").split(",").filter((c) => c.trim() !== "");
      for (const c of controls) parseHostPort(c, "--control");
      if (controls.length === 0 && flags.config === undefined && flags.dataDir === undefined)
        throw new UsageError("give --config FILE or --control HOST:PORT,...");
      const accessLog = {
        mode: accessLogModeFlag(flags.accessLog),
        sampleRate: rateFlag("--access-log-sample-rate", flags.accessLogSampleRate),
      };
      const tracingSampleRate = rateFlag("--tracing-sample-rate", flags.tracingSampleRate);
      const tracing =
        flags.tracingEndpoint === undefined || flags.tracingEndpoint === ""
          ? undefined
          : { endpoint: tracingEndpointFlag(flags.tracingEndpoint), sampleRate: tracingSampleRate };
      // Loaded only by this command, so a CLI call such as `meshlet apply` does not load the data path.
      const [
        { createLogger, createLineSink },
        { createRegistry },
        { Sidecar },
        source,
        { survivesUnhandledRejections },
      ] = await Promise.all([
        import("../../common/logger.ts"),
        import("../../common/metrics.ts"),
        import("../../sidecar/sidecar.ts"),
        // The file source parses YAML with the schemas (yaml, zod); a sidecar fed by the control plane loads neither.
        flags.config === undefined
          ? undefined
          : import("../../sidecar/static-file-source.ts").then((m) => new m.StaticFileSource(flags.config as string)),
        import("../../sidecar/unhandled-rejections.ts"),
      ]);
      const logger = createLogger(logLevel, { component: "sidecar", service: flags.service });
      const drainDelayMs = durationFlag("--drain-delay", flags.drainDelay, true);
      const drainTimeoutMs = durationFlag("--drain-timeout", flags.drainTimeout, true);
      const exit = () => {
        // Whatever a connection or a dependency does, SIGTERM ends the process within delay + timeout (+ grace).
        setTimeout(
          () => {
            logger.error({ drainDelayMs, drainTimeoutMs }, "drain overran its deadline, exiting");
            process.exit(1);
          },
          drainDelayMs + drainTimeoutMs + 2_000,
        ).unref();
        return sidecar.stop().then(
          () => process.exit(0),
          (err: unknown) => {
            logger.error({ err: errorMessage(err) }, "drain failed");
            process.exit(1);
          },
        );
      };
      const registry = createRegistry();
      survivesUnhandledRejections(logger, registry);
      const sidecar: Sidecar = new Sidecar({
        service: flags.service,
        account,
        appPort,
        outbound: parseHostPort(flags.outbound, "--outbound"),
        inbound: parseHostPort(flags.inbound, "--inbound"),
        advertiseAddress: advertiseAddressFlag(flags.advertiseAddress),
        admin: parseHostPort(flags.admin, "--admin"),
        controls,
        ...token,
        caPem: caBundle(logger),
        source,
        dataDir: flags.dataDir,
        labels: parseLabels(flags.labels),
        instance: flags.instance === undefined || flags.instance === "" ? undefined : flags.instance,
        configDir: flags.configDir === undefined || flags.configDir === "" ? undefined : flags.configDir,
        drainDelayMs,
        drainTimeoutMs,
        connectTimeoutMs: durationFlag("--connect-timeout", flags.connectTimeout),
        streamIdleTimeoutMs: durationFlag("--stream-idle-timeout", flags.streamIdleTimeout, true),
        downstreamIdleTimeoutMs: durationFlag("--downstream-idle-timeout", flags.downstreamIdleTimeout, true),
        appHealthIntervalMs: durationFlag("--app-health-interval", flags.appHealthInterval, true),
        appHealthPath: appHealthPath(flags.appHealthPath),
        redis: flags.redis === undefined ? undefined : parseHostPort(flags.redis, "--redis"),
        path: { mergeSlashes: flags.mergeSlashes === true, escapedSlashes },
        faults: flags.faults !== false,
        accessLog,
        accessLogSink: createLineSink(flags.accessLogFile),
        tracing,
        logger,
        registry,
        onShutdownRequest: () => void exit(),
      });
      try {
        await sidecar.start();
      } catch (err) {
        process.stderr.write(`meshlet sidecar: ${errorMessage(err)} (${errorCode(err)})\n`);
        process.exit(1);
      }
      process.on("SIGTERM", exit);
      process.on("SIGINT", exit);
      stopWithParent(() => void exit());
      process.on("SIGHUP", () => void sidecar.reload());
    });
}

/** An IP peers can dial: a name would be refused by the control plane (it does not resolve what callers say). */
function advertiseAddressFlag(value: string | undefined): string | undefined {
  if (value === undefined || value === "") return undefined;
  const ip = canonicalIp(value);
  if (ip === undefined) throw new UsageError(`--advertise-address: expected an IP address, got "${value}"`);
  if (isUnspecified(ip))
    throw new UsageError(`--advertise-address: ${value} is not an address peers can dial; give this host's IP`);
  return ip;
}

/** --ca-file, checked readable at start, then read again at a reconnect when it changed (a rotated CA). */
function caBundle(logger: Logger): (() => Buffer) | undefined {
  const pem = controlCaPem();
  const file = controlAccess().caFile;
  if (pem === undefined || file === undefined) return undefined;
  const ca = new CaFile(file, pem, logger);
  return () => ca.current();
}

/** --token-file (checked readable and not empty at start) or --token; not both. */
function tokenSource(file: string | undefined): { token?: string; tokenFile?: string } {
  const fixed = controlAccess().token;
  if (file === undefined || file === "") return fixed === undefined ? {} : { token: fixed };
  if (fixed !== undefined && fixed !== "") throw new UsageError("give --token or --token-file, not both");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`--token-file ${file}: ${(err as Error).message}`);
  }
  if (text.trim() === "") throw new UsageError(`--token-file ${file}: the file is empty`);
  return { tokenFile: file };
}

/** --namespace and --service-account: both or neither, each a Kubernetes name. */
function accountFlags(
  namespace: string | undefined,
  serviceAccount: string | undefined,
): { namespace: string; name: string } | undefined {
  const ns = namespace ?? "";
  const sa = serviceAccount ?? "";
  if (ns === "" && sa === "") return undefined;
  if (ns === "" || sa === "")
    throw new UsageError("--namespace and --service-account go together: give both or neither");
  if (!isNamespace(ns))
    throw new UsageError(`--namespace: "${ns}" is not a Kubernetes namespace name (a DNS-1123 label)`);
  if (!isServiceAccountName(sa))
    throw new UsageError(`--service-account: "${sa}" is not a Kubernetes service account name (a DNS-1123 subdomain)`);
  return { namespace: ns, name: sa };
}

/** An origin-form path, as the probe sends it: anything else is a typo that would fail every probe. */
function appHealthPath(value: string | undefined): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^\/[\x21-\x7e]*$/.test(value))
    throw new UsageError(
      `--app-health-path: expected a path starting with "/" without spaces, got ${JSON.stringify(value)}`,
    );
  return value;
}

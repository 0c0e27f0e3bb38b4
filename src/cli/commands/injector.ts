import { type Command, Option } from "commander";
import { parseHostPort } from "../../common/address.ts";
import { errorMessage, UsageError } from "../../common/errors.ts";
import type { LogLevel } from "../../common/log-levels.ts";
import { commandLogLevel, durationFlag, envOption, logLevelOption } from "../options.ts";
import { stopWithParent } from "../parent.ts";
import { DEFAULT_IMAGE, parseUid } from "./kube-flags.ts";

interface InjectorFlags {
  tlsCert?: string;
  tlsKey?: string;
  listen: string;
  image: string;
  control: string;
  nativeSidecar: boolean;
  intercept: boolean;
  proxyUid: number | string;
  certPoll: string;
  logLevel: LogLevel;
}

export function registerInjector(program: Command): void {
  program
    .command("injector")
    .description("serve the Kubernetes mutating admission webhook that injects the sidecar (HTTPS, POST /inject)")
    .addOption(envOption("--tls-cert <file>", "PEM certificate the API server trusts (reloaded when the file changes)"))
    .addOption(envOption("--tls-key <file>", "PEM private key of --tls-cert"))
    .addOption(envOption("--listen <host:port>", "HTTPS listener", "0.0.0.0:15017"))
    .addOption(envOption("--cert-poll <duration>", "how often the certificate files are checked for a change", "5s"))
    .addOption(envOption("--image <ref>", "image of the injected containers", DEFAULT_IMAGE))
    .addOption(
      envOption(
        "--control <list>",
        "control-plane gRPC addresses host:port,...",
        "meshlet-control.meshlet-system.svc:15010",
      ),
    )
    .addOption(
      new Option("--no-native-sidecar", "inject the sidecar as a plain container").env("MESHLET_NO_NATIVE_SIDECAR"),
    )
    .addOption(new Option("--no-intercept", "no iptables init container").env("MESHLET_NO_INTERCEPT"))
    .addOption(envOption("--proxy-uid <uid>", "uid the sidecar runs as", "1337").argParser(parseUid("--proxy-uid")))
    .addOption(logLevelOption())
    .action(async (flags: InjectorFlags, cmd: Command) => {
      if (flags.tlsCert === undefined || flags.tlsCert === "") throw new UsageError("--tls-cert is required");
      if (flags.tlsKey === undefined || flags.tlsKey === "") throw new UsageError("--tls-key is required");
      const listen = parseHostPort(flags.listen, "--listen");
      const certPollMs = durationFlag("--cert-poll", flags.certPoll);
      const [{ createLogger }, { createRegistry }, { startInjector }] = await Promise.all([
        import("../../common/logger.ts"),
        import("../../common/metrics.ts"),
        import("../../kube/injector-server.ts"),
      ]);
      const logger = createLogger(commandLogLevel(cmd), { component: "injector" });
      let running: Awaited<ReturnType<typeof startInjector>>;
      try {
        running = await startInjector({
          host: listen.host,
          port: listen.port,
          certFile: flags.tlsCert,
          keyFile: flags.tlsKey,
          inject: {
            image: flags.image,
            control: flags.control,
            nativeSidecar: flags.nativeSidecar,
            intercept: flags.intercept,
            proxyUid: typeof flags.proxyUid === "number" ? flags.proxyUid : parseUid("--proxy-uid")(flags.proxyUid),
          },
          logger,
          registry: createRegistry(),
          certPollMs,
        });
      } catch (err) {
        process.stderr.write(`meshlet injector: ${errorMessage(err)}\n`);
        process.exit(1);
      }
      logger.info({ port: running.port }, "injector ready");
      const stop = () => void running.close().then(() => process.exit(0));
      process.on("SIGTERM", stop);
      process.on("SIGINT", stop);
      stopWithParent(stop);
    });
}

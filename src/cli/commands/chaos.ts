import { type Command, Option } from "commander";
import { serverOption } from "../options.ts";
import { type OutputFormat, outputOption } from "../output.ts";
import type { ChaosStartFlags } from "./chaos-actions.ts";

/** The implementation is loaded when a chaos command runs (start-up stays light). */
const actions = () => import("./chaos-actions.ts");

export function registerChaos(program: Command): void {
  const chaos = program
    .command("chaos")
    .description("fault experiments with a lifetime: start, list, stop (docs/faults.md)");
  chaos
    .command("start")
    .description("start an experiment; the control plane removes it by itself after --for")
    .addOption(serverOption())
    .option("-f, --filename <file>", "a FaultExperiment resource (YAML or JSON; - for stdin)")
    .option("--delay <duration>", "delay requests by this long (e.g. 100ms)")
    .option("--abort <status>", "answer with this HTTP status (e.g. 503), or grpc:N for a gRPC status")
    .option("--reset", "close the client's connection")
    .option("--blackhole", "never answer (until the client's or the route's timeout)")
    .option("--bandwidth <rate>", "throttle response bodies to RATE bytes per second (e.g. 64KiB, 1MiB/s)")
    .option("--service <name>", "the target service")
    .option("--percent <p>", "the share of requests affected (0-100)", "100")
    .addOption(
      new Option("--side <side>", "outbound: the target's callers; inbound: the target's own sidecars")
        .choices(["outbound", "inbound"])
        .default("outbound"),
    )
    .option("--labels <k=v,...>", "inbound only: the target's instances with these labels")
    .option("--instance-percent <p>", "inbound only: this share of the target's instances (stable by instance id)")
    .option("--for <duration>", "how long it runs (e.g. 60s); required without -f")
    .option("--name <name>", "the experiment's name (default: SERVICE-KIND)")
    .option("--reason <text>", "why, for the control plane's log")
    .addOption(outputOption())
    .action(async (flags: ChaosStartFlags) => (await actions()).startExperiment(flags));
  chaos
    .command("list")
    .description("running experiments and the time they have left")
    .addOption(serverOption())
    .option("--stale", "read this node's replica without confirming with the leader")
    .addOption(outputOption())
    .action(async (flags: { server: string; stale?: boolean; output?: OutputFormat }) =>
      (await actions()).listExperiments(flags),
    );
  chaos
    .command("stop [name]")
    .description("stop one experiment, or every one with --all")
    .addOption(serverOption())
    .option("--all", "stop every running experiment")
    .option("--reason <text>", "why, for the control plane's log")
    .action(async (name: string | undefined, flags: { server: string; all?: boolean; reason?: string }) =>
      (await actions()).stopExperiments(name, flags),
    );
}

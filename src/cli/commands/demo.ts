import type { Command } from "commander";
import { parseHostPort } from "../../common/address.ts";
import { UsageError } from "../../common/errors.ts";
import { envOption } from "../options.ts";

interface DemoFlags {
  dir: string;
  http: string;
  grpc: string;
  outbound: string;
  rate: string;
  controlNodes: string;
}

export function registerDemo(program: Command): void {
  const demo = program
    .command("demo")
    .description("run a demo mesh on this machine: control plane, services with sidecars, traffic, dashboard")
    .addOption(envOption("--dir <dir>", "the demo's data and logs (reused by the next run)", ".meshlet/demo"))
    .addOption(envOption("--http <host:port>", "control-plane HTTP: API and dashboard", "127.0.0.1:15014"))
    .addOption(envOption("--grpc <host:port>", "control-plane gRPC", "127.0.0.1:15010"))
    .addOption(envOption("--outbound <host:port>", "the web service's sidecar outbound listener", "127.0.0.1:15001"))
    .addOption(envOption("--rate <n>", "requests per second of generated traffic (0: none)", "5"))
    .addOption(
      envOption("--control-nodes <n>", "control-plane nodes: 1, or 3 or 5 for drills that kill the leader", "1"),
    )
    .action(async (flags: DemoFlags) => {
      if (!["1", "3", "5"].includes(flags.controlNodes))
        throw new UsageError(`--control-nodes: expected 1, 3 or 5, got "${flags.controlNodes}"`);
      const rate = Number(flags.rate);
      if (!Number.isFinite(rate) || rate < 0 || rate > 1000)
        throw new UsageError(`--rate: expected 0-1000 requests per second, got "${flags.rate}"`);
      const options = {
        dir: flags.dir,
        http: parseHostPort(flags.http, "--http"),
        grpc: parseHostPort(flags.grpc, "--grpc"),
        outbound: parseHostPort(flags.outbound, "--outbound"),
        rate,
        controlNodes: Number(flags.controlNodes),
        out: process.stdout,
      };
      // Loaded when it runs: other commands never pay for it.
      const { runDemo } = await import("../../demo/run.ts");
      const code = await runDemo(options);
      // Idle keep-alive sockets of the start-up checks must not hold the exit.
      process.exit(code);
    });
  for (const [name, failing] of [
    ["fail", true],
    ["heal", false],
  ] as const) {
    demo
      .command(`${name} <service>`)
      .description(
        failing
          ? "make every instance of a demo service answer 500 (watch its callers' breakers open)"
          : "make a demo service answer normally again",
      )
      .action(async (service: string, _flags: unknown, cmd: Command) => {
        const { dir } = cmd.optsWithGlobals<DemoFlags>();
        const { setFailing } = await import("../../demo/faults.ts");
        const instances = await setFailing(dir, service, failing);
        process.stdout.write(
          `${service}: ${instances.map((i) => i.instance).join(", ")} ${failing ? "now answer 500" : "answer normally again"}\n`,
        );
      });
  }
}

import type { Command } from "commander";
import { durationFlag, envOption, serverOption } from "../options.ts";
import { outputOption } from "../output.ts";
import type { CheckFlags } from "./check-actions.ts";

export function registerCheck(program: Command): void {
  program
    .command("check")
    .description(
      "check the mesh: control plane reachable, healthy, with a leader; sidecars connected and ACKed; clocks sane (exit 1 on a failed check)",
    )
    .addOption(envOption("--wait <duration>", "how long sidecars may take to acknowledge the latest snapshot", "5s"))
    .addOption(
      envOption("--max-clock-skew <duration>", "the largest clock difference with the control plane that passes", "5s"),
    )
    .addOption(outputOption())
    .addOption(serverOption())
    .action(async (flags: CheckFlags) => {
      durationFlag("--wait", flags.wait, true);
      durationFlag("--max-clock-skew", flags.maxClockSkew);
      await (await import("./check-actions.ts")).check(flags);
    });
}

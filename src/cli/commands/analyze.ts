import type { Command } from "commander";
import { envOption, serverOption } from "../options.ts";
import { outputOption } from "../output.ts";
import type { AnalyzeFlags } from "./analyze-actions.ts";

export function registerAnalyze(program: Command): void {
  program
    .command("analyze")
    .description(
      "report conflicts, dangling references, rules that never match and policies with nothing to act on (exit 1 on findings at or above --fail-on)",
    )
    .addOption(
      envOption(
        "-f, --filename <path...>",
        "analyze the live state with these files applied on top (nothing is written)",
      ),
    )
    .addOption(envOption("--local", "analyze the -f files alone, without the control plane (no endpoint checks)"))
    .addOption(
      envOption(
        "--fail-on <severity>",
        "exit 1 when a finding is at least this severe: error | warning | info",
        "error",
      ),
    )
    .addOption(outputOption())
    .addOption(serverOption())
    .action(async (flags: AnalyzeFlags) => (await import("./analyze-actions.ts")).analyze(flags));
}

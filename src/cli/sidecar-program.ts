import type { Command } from "commander";
import { registerSidecar } from "./commands/sidecar.ts";
import { rootCommand } from "./root.ts";

/**
 * `meshlet sidecar …` parsed by the root command with only the sidecar's
 * subcommand: the process that runs next to every app instance does not load
 * the other commands' modules (docs/sidecar.md, memory). Same flags, help and
 * errors as through the whole program (test/cli/program.test.ts).
 */
export function buildSidecarProgram(): Command {
  const program = rootCommand();
  registerSidecar(program);
  return program;
}

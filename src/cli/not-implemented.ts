import type { Command } from "commander";
import { NotImplementedError } from "../common/errors.ts";

/** Placeholder action for a planned subcommand: says so and exits 2; `--help` marks it planned. */
export function planned(command: Command): Command {
  return command
    .description(`(planned) ${command.description()}`)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .action(() => {
      throw new NotImplementedError(`meshlet ${command.name()}`);
    });
}

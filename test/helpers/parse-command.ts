import type { Command } from "commander";
import { buildProgram } from "../../src/cli/program.ts";

export interface ParsedCommand {
  command: string;
  options: Record<string, unknown>;
  args: string[];
}

/**
 * Parses a command line through the real CLI parser without running the
 * command: every action is replaced by one that records what it was given.
 */
export async function parseCommandLine(argv: string[]): Promise<ParsedCommand> {
  const program = buildProgram().exitOverride();
  let parsed: ParsedCommand | undefined;
  const record = (cmd: Command, path: string) => {
    cmd.exitOverride();
    cmd.configureOutput({ writeErr: () => {}, writeOut: () => {} });
    cmd.action((...params: unknown[]) => {
      const self = params[params.length - 1] as Command;
      parsed = { command: path, options: self.opts(), args: self.args };
    });
    for (const sub of cmd.commands) record(sub, `${path} ${sub.name()}`);
  };
  for (const cmd of program.commands) record(cmd, cmd.name());
  program.configureOutput({ writeErr: () => {}, writeOut: () => {} });
  await program.parseAsync(argv, { from: "user" });
  if (parsed === undefined) throw new Error(`no command ran for: ${argv.join(" ")}`);
  return parsed;
}

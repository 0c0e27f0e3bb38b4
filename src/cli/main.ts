import { type Command, CommanderError } from "commander";
import { errorMessage } from "../common/errors.ts";
import { EXIT, exitCodeFor } from "./exit-codes.ts";

/** Commander exits the process itself unless told not to, and each subcommand must be told separately. */
function throwInsteadOfExit(command: Command): void {
  command.exitOverride();
  for (const sub of command.commands) throwInsteadOfExit(sub);
}

/**
 * The command tree a command line needs: `meshlet sidecar …` only the
 * sidecar's (the other commands' modules are not loaded in the process that
 * runs next to every app), anything else the whole program.
 */
async function programFor(argv: string[]): Promise<Command> {
  if (argv[0] === "sidecar") return (await import("./sidecar-program.ts")).buildSidecarProgram();
  return (await import("./program.ts")).buildProgram();
}

/** Runs one command line; resolves with the exit code of exit-codes.ts (0 ok, 1 failed, 2 usage, 3 not reachable). */
export async function main(argv: string[]): Promise<number> {
  // `meshlet status | head`: the reader went away, which is no error of the command's.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
  const program = await programFor(argv);
  throwInsteadOfExit(program);
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.OK;
  } catch (err) {
    // Help and --version end with a CommanderError of code 0; every other one is a usage error.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    process.stderr.write(`meshlet: ${errorMessage(err)}\n`);
    return exitCodeFor(err);
  }
}

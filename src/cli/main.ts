import { CommanderError } from "commander";
import { errorCode, errorMessage, MeshletError } from "../common/errors.ts";
import { buildProgram } from "./program.ts";

/** Exit codes: 0 ok, 1 the operation failed, 2 usage or not implemented. */
const USAGE_CODES = new Set(["ERR_USAGE", "ERR_NOT_IMPLEMENTED"]);

export async function main(argv: string[]): Promise<number> {
  // `meshlet status | head`: the reader went away, which is no error of the command's.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`meshlet: ${errorMessage(err)}\n`);
    if (err instanceof MeshletError && USAGE_CODES.has(err.code)) return 2;
    return errorCode(err) === "ERR_USAGE" ? 2 : 1;
  }
}

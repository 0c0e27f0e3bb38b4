import type { Command } from "commander";
import { envOption, serverOption } from "../options.ts";
import { type OutputFormat, outputOption } from "../output.ts";

/** The implementation (YAML, schemas, diff) is imported when a command runs: `meshlet --help` never loads it. */
const actions = () => import("./resource-actions.ts");

interface Common {
  server: string;
  output?: OutputFormat;
}

export function registerResourceCommands(program: Command): void {
  program
    .command("apply")
    .description("create or update resources from YAML or JSON files (all or nothing)")
    .requiredOption("-f, --filename <path...>", "file, directory or - for stdin (repeatable)")
    .addOption(
      envOption(
        "--dry-run [mode]",
        "change nothing: server (the default) checks against the live state as the apply would; client checks the files alone",
      ),
    )
    .addOption(outputOption())
    .addOption(serverOption())
    .action(async (opts: Common & { filename: string[]; dryRun?: string | boolean }) => (await actions()).apply(opts));

  program
    .command("get")
    .description("list resources of a kind, or show one")
    .argument("<kind>", "service | route | policy | configrelease (singular or plural)")
    .argument("[name]", "resource name")
    .addOption(outputOption())
    .addOption(serverOption())
    .action(async (kind: string, name: string | undefined, opts: Common) => (await actions()).get(kind, name, opts));

  program
    .command("delete")
    .description("delete a resource")
    .argument("<kind>", "service | route | policy | configrelease")
    .argument("<name>", "resource name")
    .addOption(outputOption())
    .addOption(serverOption())
    .action(async (kind: string, name: string, opts: Common) => (await actions()).remove(kind, name, opts));

  program
    .command("diff")
    .description("show what apply would change (exit 1 when there are differences)")
    .requiredOption("-f, --filename <path...>", "file, directory or - for stdin (repeatable)")
    .addOption(serverOption())
    .action(async (opts: { filename: string[]; server: string }) => (await actions()).diff(opts));

  program
    .command("status")
    .description("summary of the cluster and the connected sidecars")
    .addOption(outputOption())
    .addOption(serverOption())
    .action(async (opts: Common) => (await actions()).status(opts));
}

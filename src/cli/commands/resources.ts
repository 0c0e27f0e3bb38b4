import type { Command } from "commander";
import { serverOption } from "../options.ts";

/** The implementation (YAML, schemas, diff) is imported when a command runs: `meshlet --help` never loads it. */
const actions = () => import("./resource-actions.ts");

export function registerResourceCommands(program: Command): void {
  program
    .command("apply")
    .description("create or update resources from YAML or JSON files (all or nothing)")
    .requiredOption("-f, --filename <path...>", "file, directory or - for stdin (repeatable)")
    .option("--dry-run", "validate and report what would change, without changing anything")
    .addOption(serverOption())
    .action(async (opts: { filename: string[]; dryRun?: boolean; server: string }) => (await actions()).apply(opts));

  program
    .command("get")
    .description("list resources of a kind, or show one")
    .argument("<kind>", "service | route | policy | configrelease (singular or plural)")
    .argument("[name]", "resource name")
    .option("-o, --output <format>", "table | yaml | json", "table")
    .addOption(serverOption())
    .action(async (kind: string, name: string | undefined, opts: { output: string; server: string }) =>
      (await actions()).get(kind, name, opts),
    );

  program
    .command("delete")
    .description("delete a resource")
    .argument("<kind>", "service | route | policy | configrelease")
    .argument("<name>", "resource name")
    .addOption(serverOption())
    .action(async (kind: string, name: string, opts: { server: string }) => (await actions()).remove(kind, name, opts));

  program
    .command("diff")
    .description("show what apply would change (exit 1 when there are differences)")
    .requiredOption("-f, --filename <path...>", "file, directory or - for stdin (repeatable)")
    .addOption(serverOption())
    .action(async (opts: { filename: string[]; server: string }) => (await actions()).diff(opts));

  program
    .command("status")
    .description("summary of the cluster and the connected sidecars")
    .addOption(serverOption())
    .action(async (opts: { server: string }) => (await actions()).status(opts));
}

import type { Command } from "commander";
import { planned } from "../not-implemented.ts";

export function registerResourceCommands(program: Command): void {
  planned(program.command("apply").description("create or update resources from YAML or JSON files"));
  planned(program.command("get").description("list or show resources"));
  planned(program.command("delete").description("delete a resource"));
  planned(program.command("diff").description("show what apply would change"));
  planned(program.command("status").description("summary of the cluster and the connected sidecars"));
}

import type { Command } from "commander";
import { planned } from "../not-implemented.ts";

export function registerConfig(program: Command): void {
  planned(program.command("config").description("read and write the app-config center (revisioned key/value)"));
}

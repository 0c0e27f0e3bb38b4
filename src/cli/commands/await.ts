import type { Command } from "commander";
import { planned } from "../not-implemented.ts";

export function registerAwait(program: Command): void {
  planned(program.command("await").description("wait for the local sidecar to be ready, then run the app command"));
}

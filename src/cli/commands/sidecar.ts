import type { Command } from "commander";
import { planned } from "../not-implemented.ts";

export function registerSidecar(program: Command): void {
  planned(program.command("sidecar").description("run the sidecar proxy next to one app instance"));
}

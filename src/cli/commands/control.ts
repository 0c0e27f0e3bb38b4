import type { Command } from "commander";
import { planned } from "../not-implemented.ts";

export function registerControl(program: Command): void {
  planned(program.command("control").description("run a control-plane node (single embedded node by default)"));
}

import type { Command } from "commander";
import { planned } from "../not-implemented.ts";

export function registerDemo(program: Command): void {
  planned(program.command("demo").description("start a local demo mesh: control plane, services and sidecars"));
}

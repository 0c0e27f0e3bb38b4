import type { Command } from "commander";
import { planned } from "../not-implemented.ts";

export function registerCluster(program: Command): void {
  planned(program.command("cluster").description("show and change control-plane membership"));
}

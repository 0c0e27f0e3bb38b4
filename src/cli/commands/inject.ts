import type { Command } from "commander";
import { planned } from "../not-implemented.ts";

export function registerInject(program: Command): void {
  planned(program.command("inject").description("add a sidecar container to Kubernetes manifests"));
}

import { Command } from "commander";
import { registerAwait } from "./commands/await.ts";
import { registerCluster } from "./commands/cluster.ts";
import { registerConfig } from "./commands/config.ts";
import { registerControl } from "./commands/control.ts";
import { registerDemo } from "./commands/demo.ts";
import { registerInject } from "./commands/inject.ts";
import { registerResourceCommands } from "./commands/resources.ts";
import { registerSidecar } from "./commands/sidecar.ts";
import { logLevelOption } from "./options.ts";

export const VERSION = "0.1.0";

/**
 * The whole command tree, built without running anything, so tests (and the
 * deploy checks) can parse real command lines through the real parser.
 */
export function buildProgram(): Command {
  const program = new Command("meshlet")
    .description("meshlet: a service mesh for Node.js — sidecar proxy and Raft-backed control plane")
    .version(VERSION)
    .addOption(logLevelOption())
    .showHelpAfterError()
    .configureOutput({ outputError: (message, write) => write(message) });
  registerControl(program);
  registerSidecar(program);
  registerAwait(program);
  registerResourceCommands(program);
  registerCluster(program);
  registerConfig(program);
  registerInject(program);
  registerDemo(program);
  return program;
}

import type { Command } from "commander";
import { registerAnalyze } from "./commands/analyze.ts";
import { registerAwait } from "./commands/await.ts";
import { registerCa } from "./commands/ca.ts";
import { registerChaos } from "./commands/chaos.ts";
import { registerCheck } from "./commands/check.ts";
import { registerCluster } from "./commands/cluster.ts";
import { registerCompletion } from "./commands/completion.ts";
import { registerConfig } from "./commands/config.ts";
import { registerControl } from "./commands/control.ts";
import { registerDemo } from "./commands/demo.ts";
import { registerDrill } from "./commands/drill.ts";
import { registerInject } from "./commands/inject.ts";
import { registerInjector } from "./commands/injector.ts";
import { registerIptables } from "./commands/iptables.ts";
import { registerProxyConfig } from "./commands/proxy-config.ts";
import { registerResourceCommands } from "./commands/resources.ts";
import { registerSidecar } from "./commands/sidecar.ts";
import { registerToken } from "./commands/token.ts";
import { registerVersion } from "./commands/version.ts";
import { rootCommand } from "./root.ts";

/**
 * The whole command tree, built without running anything, so tests (and the
 * deploy checks) can parse real command lines through the real parser.
 */
export function buildProgram(): Command {
  const program = rootCommand();
  registerControl(program);
  registerSidecar(program);
  registerAwait(program);
  registerResourceCommands(program);
  registerCluster(program);
  registerConfig(program);
  registerInject(program);
  registerInjector(program);
  registerIptables(program);
  registerDemo(program);
  registerDrill(program);
  registerAnalyze(program);
  registerCheck(program);
  registerProxyConfig(program);
  registerChaos(program);
  registerVersion(program);
  registerToken(program);
  registerCa(program);
  registerCompletion(program);
  return program;
}

import type { AddressInfo } from "node:net";
import { silentLogger } from "../../../src/common/logger.ts";
import { createRegistry } from "../../../src/common/metrics.ts";
import { registerConfigCommands } from "../../../src/controlplane/config/commands.ts";
import { attachWatchMetrics } from "../../../src/controlplane/config/watch-metrics.ts";
import { ROUTE_MODULES } from "../../../src/controlplane/http/modules.ts";
import { resourcesApi } from "../../../src/controlplane/http/resources-api.ts";
import { createHttpServer } from "../../../src/controlplane/http/server.ts";
import { RevisionedKv } from "../../../src/controlplane/state/kv.ts";
import { SingleNode } from "../discovery/single-node.ts";

/** A one-node control plane without Raft: the real state machine, config and mesh handlers, and HTTP routes. */
export function configNode(kv = new RevisionedKv()): SingleNode {
  const node = new SingleNode("n1", kv);
  registerConfigCommands(node.sm);
  return node;
}

export interface Served {
  node: SingleNode;
  base: string;
  req: (path: string, init?: RequestInit) => Promise<Response>;
}

/** The node behind the control plane's real HTTP server on a free port; closed after the test. */
export async function serveConfig(
  t: { after: (fn: () => void) => void },
  node: SingleNode = configNode(),
): Promise<Served> {
  const registry = createRegistry({ processMetrics: false });
  attachWatchMetrics(node, registry);
  const server = createHttpServer(node, [...ROUTE_MODULES, resourcesApi()], registry, silentLogger());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { node, base, req: (path, init) => fetch(base + path, init) };
}

export function releaseYaml(name: string, key: string, value: string, selector: string): string {
  return `apiVersion: meshlet.dev/v1\nkind: ConfigRelease\nmetadata: {name: ${name}}\nspec: {key: ${key}, value: ${JSON.stringify(value)}, selector: ${selector}}\n`;
}

export function serviceYaml(name: string, config: string): string {
  return `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {config: ${config}}\n`;
}

import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";
import { errorMessage } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import type { ControlNode } from "../node.ts";
import { type RouteModule, Router } from "./router.ts";

/** The control-plane HTTP server: every route module, plus GET /metrics from this node's registry. */
export function createHttpServer(
  node: ControlNode,
  modules: readonly RouteModule[],
  registry: Registry,
  logger: Logger,
): Server {
  const router = new Router();
  for (const mount of modules) mount(router, node);
  router.route("GET", "/metrics", async () => ({
    status: 200,
    headers: { "content-type": registry.contentType },
    body: await registry.metrics(),
  }));
  const server = createServer((req, res) => {
    router.serve(req, res).catch((err: unknown) => {
      logger.error({ err: errorMessage(err) }, "HTTP request failed after the reply started");
      res.destroy();
    });
  });
  server.on("clientError", (_err, socket) => socket.destroy());
  return server;
}

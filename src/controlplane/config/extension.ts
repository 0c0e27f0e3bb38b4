import type { ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import type { Registry } from "prom-client";
import { configProto } from "../../config/config-proto.ts";
import type { ControlNode } from "../node.ts";
import { configHandlers } from "./grpc-watch.ts";
import { attachWatchMetrics } from "./watch-metrics.ts";

interface ExtensionContextLike {
  node: ControlNode;
  grpcServer: { addService: (service: ServiceDefinition, implementation: UntypedServiceImplementation) => void };
  registry: Registry;
}

/**
 * The config center's gRPC service and watch metrics inside `meshlet
 * control`. Its command handlers are registered with the node's own (run.ts),
 * its HTTP routes are in http/modules.ts; this adds
 * meshlet.config.v1.Config/Watch to the node's gRPC server. Shaped as a
 * ControlExtension (extensions.ts checks it).
 */
export function configCenterExtension() {
  return {
    name: "config-center",
    register: () => {},
    start({ node, grpcServer, registry }: ExtensionContextLike) {
      attachWatchMetrics(node, registry);
      grpcServer.addService(configProto().meshlet.config.v1.Config.service, configHandlers(node));
      return [];
    },
    stop: () => {},
  };
}

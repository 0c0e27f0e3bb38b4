import type { ChannelCredentials } from "@grpc/grpc-js";
import type { Registry } from "prom-client";
import type { Logger } from "../common/logger.ts";
import type { ResourceLimits } from "../config/limits.ts";
import { authExtension } from "./auth/extension.ts";
import type { AddService } from "./auth/grpc-access.ts";
import { configCenterExtension } from "./config/extension.ts";
import type { RegistrationAddressMode } from "./discovery/caller-address.ts";
import { discoveryExtension } from "./discovery/extension.ts";
import { faultsExtension } from "./faults/extension.ts";
import type { RouteModule } from "./http/router.ts";
import type { ControlNode } from "./node.ts";
import type { MeshSecurity } from "./security/mesh-ca.ts";
import type { StateMachine } from "./state/machine.ts";

export interface ExtensionContext {
  node: ControlNode;
  /**
   * The node's one gRPC server (peers and sidecars share --grpc); add services here, it binds after start().
   * Every method added here checks its caller's token (auth/grpc-access.ts).
   */
  grpcServer: { addService: AddService };
  logger: Logger;
  registry: Registry;
  /** Size limits of applied resources (meshlet control --max-resource-bytes, --max-apply-bytes). */
  limits: ResourceLimits;
  /** The mesh CA: signs sidecar certificates, holds the trust bundle. */
  security: MeshSecurity;
  /**
   * How this node dials a peer's gRPC port: mTLS with its node certificate, the peer's certificate naming
   * `nodeId` (an address is not an identity), or plain with --insecure.
   */
  peerCredentials: (nodeId: string) => ChannelCredentials;
  /** Which addresses sidecars may register (meshlet control --registration-address). */
  registrationAddress: RegistrationAddressMode;
}

/**
 * A component that runs inside `meshlet control` (e.g. discovery). In order:
 * register() adds command handlers before the log is replayed; start() runs
 * once the node exists and before the servers listen, and returns the HTTP
 * route modules to mount; stop() runs first on shutdown.
 */
export interface ControlExtension {
  name: string;
  register(sm: StateMachine): void;
  start(ctx: ExtensionContext): RouteModule[];
  stop(): Promise<void> | void;
}

/** The extensions `meshlet control` runs; other control-plane modules append theirs here. */
export const EXTENSIONS: ControlExtension[] = [
  discoveryExtension(),
  configCenterExtension(),
  faultsExtension(),
  authExtension(),
];

import type { ChannelCredentials, ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import type { Registry } from "prom-client";
import { UsageError } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import type { ResourceLimits } from "../../config/limits.ts";
import { analyzeApi } from "../http/analyze-api.ts";
import { resourcesApi } from "../http/resources-api.ts";
import type { ControlNode } from "../node.ts";
import { registerMeshCommands } from "../resources/register-commands.ts";
import { ResourceParser } from "../resources/resource-parser.ts";
import type { StateMachine } from "../state/machine.ts";
import type { RegistrationAddressMode } from "./caller-address.ts";
import type { CertificateIssuer } from "./server.ts";
import { DEFAULT_DEBOUNCE_MS } from "./session.ts";
import { type DiscoveryRuntime, startDiscovery } from "./start.ts";

/** Push coalescing window; `meshlet control` reads it from the environment (default 50 ms). */
export const DEBOUNCE_ENV = "MESHLET_DISCOVERY_DEBOUNCE_MS";

function debounceMs(): number {
  const raw = process.env[DEBOUNCE_ENV];
  if (raw === undefined || raw === "") return DEFAULT_DEBOUNCE_MS;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 10_000)
    throw new UsageError(`${DEBOUNCE_ENV}: expected 0-10000 ms, got "${raw}"`);
  return n;
}

interface ExtensionContextLike {
  node: ControlNode;
  grpcServer: { addService: (service: ServiceDefinition, implementation: UntypedServiceImplementation) => void };
  logger: Logger;
  registry: Registry;
  limits?: ResourceLimits;
  /** The mesh CA (MeshSecurity) as the discovery stream uses it. */
  security?: CertificateIssuer;
  peerCredentials?: (nodeId: string) => ChannelCredentials;
  registrationAddress?: RegistrationAddressMode;
}

/** Members and their gRPC addresses. ControlNode does not expose membership; the Raft-backed node does. */
function membersOf(node: ControlNode): { id: string; address: string }[] {
  return (node as ControlNode & { members?: () => { id: string; address: string }[] }).members?.() ?? [];
}

/** The gRPC address of a member, for forwarding lease renewals to the leader. */
function memberAddress(node: ControlNode, id: string): string | undefined {
  const address = membersOf(node).find((m) => m.id === id)?.address;
  return address === undefined || address === "" ? undefined : address;
}

/**
 * The mesh inside `meshlet control`: resource and registry commands, the
 * Discovery service, the mesh HTTP API. Shaped as a ControlExtension
 * (extensions.ts checks it there; importing the type here would be a cycle).
 */
export function discoveryExtension() {
  let runtime: DiscoveryRuntime | undefined;
  let parser: ResourceParser | undefined;
  return {
    name: "discovery",
    register: (sm: StateMachine) => registerMeshCommands(sm),
    start({
      node,
      grpcServer,
      logger,
      registry,
      limits,
      security,
      peerCredentials,
      registrationAddress,
    }: ExtensionContextLike) {
      runtime = startDiscovery(node, {
        addService: (service, implementation) => grpcServer.addService(service, implementation),
        logger,
        registry,
        grpcAddressOf: (id) => memberAddress(node, id),
        members: () => membersOf(node),
        debounceMs: debounceMs(),
        ...(security === undefined ? {} : { certificates: security }),
        ...(peerCredentials === undefined ? {} : { peerCredentials }),
        ...(registrationAddress === undefined ? {} : { registrationAddress }),
      });
      parser = new ResourceParser();
      const bodies = { parser, ...(limits === undefined ? {} : { limits }) };
      return [resourcesApi(bodies), analyzeApi(bodies)];
    },
    stop() {
      runtime?.stop();
      runtime = undefined;
      parser?.close();
      parser = undefined;
    },
  };
}

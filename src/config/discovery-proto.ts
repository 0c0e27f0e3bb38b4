import type { ProtoGrpcType } from "../gen/discovery.ts";
import { protoLoader } from "./proto-loader.ts";

/**
 * The Discovery service definition, shared by the control plane (server) and
 * the sidecar (client), which must not import each other.
 */
export const discoveryProto = protoLoader<ProtoGrpcType>("meshlet/discovery/v1/discovery.proto");

import { fileURLToPath } from "node:url";
import { loadPackageDefinition } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import type { ProtoGrpcType } from "../gen/discovery.ts";

/**
 * The Discovery service definition, shared by the control plane (server) and
 * the sidecar (client), which must not import each other. Options match the
 * generated types in src/gen (camelCase fields, longs as numbers, defaults,
 * oneof kind names).
 */
const PROTO = fileURLToPath(new URL("../../proto/meshlet/discovery/v1/discovery.proto", import.meta.url));

let cached: ProtoGrpcType | undefined;

export function discoveryProto(): ProtoGrpcType {
  cached ??= loadPackageDefinition(
    loadSync(PROTO, { longs: Number, enums: String, defaults: true, oneofs: true }),
  ) as unknown as ProtoGrpcType;
  return cached;
}

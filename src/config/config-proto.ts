import { fileURLToPath } from "node:url";
import { loadPackageDefinition } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import type { ProtoGrpcType } from "../gen/config.ts";

/**
 * The config center's gRPC service (meshlet.config.v1.Config), for the
 * control plane that serves it and the clients (tests, tools) that watch.
 * Loaded with the options the generated types in src/gen assume.
 */
const PROTO = fileURLToPath(new URL("../../proto/meshlet/config/v1/config.proto", import.meta.url));

let cached: ProtoGrpcType | undefined;

export function configProto(): ProtoGrpcType {
  cached ??= loadPackageDefinition(
    loadSync(PROTO, { longs: Number, enums: String, defaults: true, oneofs: true }),
  ) as unknown as ProtoGrpcType;
  return cached;
}

import type { ProtoGrpcType } from "../gen/config.ts";
import { protoLoader } from "./proto-loader.ts";

/** The config center's gRPC service (meshlet.config.v1.Config), for the control plane and the clients that watch. */
export const configProto = protoLoader<ProtoGrpcType>("meshlet/config/v1/config.proto");

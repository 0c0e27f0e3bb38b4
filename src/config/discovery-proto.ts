import type { ProtoGrpcType } from "../gen/discovery.ts";
import { DISCOVERY_DESCRIPTOR } from "../gen/discovery-descriptor.ts";
import { loadDescriptor } from "./proto-light.ts";

let loaded: ProtoGrpcType | undefined;

/**
 * The Discovery service definition, shared by the control plane (server) and
 * the sidecar (client), which must not import each other. Read from the
 * generated JSON descriptor with protobufjs/light (proto-light.ts), so a
 * sidecar never loads the .proto parser.
 */
export const discoveryProto = passEncodedResponses(() => {
  loaded ??= loadDescriptor(DISCOVERY_DESCRIPTOR) as unknown as ProtoGrpcType;
  return loaded;
});

/**
 * Lets the server write a DiscoveryResponse it encoded already (bytes) on the Stream method: a snapshot is
 * encoded once per scope and change and shared by every stream with that scope (encoded-snapshot.ts).
 */
function passEncodedResponses(load: () => ProtoGrpcType): () => ProtoGrpcType {
  let patched = false;
  return () => {
    const proto = load();
    if (!patched) {
      const method = proto.meshlet.discovery.v1.Discovery.service.Stream;
      const serialize = method.responseSerialize;
      method.responseSerialize = (value) => (Buffer.isBuffer(value) ? value : serialize(value));
      patched = true;
    }
    return proto;
  };
}

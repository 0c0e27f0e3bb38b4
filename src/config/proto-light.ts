import { createRequire } from "node:module";
import type { GrpcObject } from "@grpc/grpc-js";
import { loadPackageDefinition } from "@grpc/grpc-js";
import type { MethodDefinition, PackageDefinition, ServiceDefinition } from "@grpc/proto-loader";
import type * as Protobuf from "protobufjs";

const require = createRequire(import.meta.url);

/** What @grpc/proto-loader is given in proto-loader.ts: the generated types in src/gen assume these. */
const TO_OBJECT: Protobuf.IConversionOptions = { longs: Number, enums: String, defaults: true, oneofs: true };

function camelCase(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

function method(m: Protobuf.Method, service: string): MethodDefinition<object, object> {
  const request = m.resolvedRequestType as Protobuf.Type;
  const response = m.resolvedResponseType as Protobuf.Type;
  const serialize = (type: Protobuf.Type) => (value: object) =>
    Buffer.from(type.encode(type.fromObject(value)).finish());
  const deserialize = (type: Protobuf.Type) => (bytes: Buffer) => type.toObject(type.decode(bytes), TO_OBJECT);
  return {
    path: `/${service}/${m.name}`,
    requestStream: m.requestStream === true,
    responseStream: m.responseStream === true,
    requestSerialize: serialize(request),
    requestDeserialize: deserialize(request),
    responseSerialize: serialize(response),
    responseDeserialize: deserialize(response),
    originalName: camelCase(m.name),
  } as MethodDefinition<object, object>;
}

/**
 * A gRPC package from a protobufjs JSON descriptor (src/gen, made by
 * scripts/gen-descriptor.ts), read with protobufjs/light: the same
 * serializers @grpc/proto-loader builds (fromObject + encode; decode +
 * toObject with the options above), without loading the .proto parser and
 * proto-loader's descriptor tables at run time (about 4-5 MB of a sidecar's
 * memory, docs/benchmarks.md). Only services are defined: no caller reads the
 * message definitions proto-loader adds for reflection.
 */
export function loadDescriptor(json: Protobuf.INamespace): GrpcObject {
  const protobuf = require("protobufjs/light.js") as typeof Protobuf;
  const root = protobuf.Root.fromJSON(json);
  root.resolveAll();
  const definition: PackageDefinition = {};
  const visit = (ns: Protobuf.NamespaceBase): void => {
    for (const child of ns.nestedArray) {
      if (child instanceof protobuf.Service) {
        const name = child.fullName.slice(1);
        const service: ServiceDefinition = {};
        for (const m of child.methodsArray) service[m.name] = method(m, name);
        definition[name] = service;
      } else if (child instanceof protobuf.Namespace) visit(child);
    }
  };
  visit(root);
  return loadPackageDefinition(definition);
}

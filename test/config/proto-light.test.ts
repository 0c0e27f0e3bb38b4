import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import type { MethodDefinition } from "@grpc/grpc-js";
import type * as Protobuf from "protobufjs";
import { discoveryProto } from "../../src/config/discovery-proto.ts";
import { protoLoader } from "../../src/config/proto-loader.ts";
import type { ProtoGrpcType } from "../../src/gen/discovery.ts";

const require = createRequire(import.meta.url);
const protobuf = require("protobufjs") as typeof Protobuf;
const PROTO = "meshlet/discovery/v1/discovery.proto";

/** @grpc/proto-loader reading the .proto itself: what the discovery service was loaded with before. */
const reference = protoLoader<ProtoGrpcType>(PROTO);

/**
 * Messages of `type` with every field set, one per member of each oneof (and one with none): strings, numbers,
 * booleans, enums (a non-zero value), bytes, repeated fields (two values), maps (one entry) and nested messages.
 */
function samples(type: Protobuf.Type, depth = 0): Record<string, unknown>[] {
  const value = (f: Protobuf.Field, i: number): unknown => {
    const r = f.resolvedType;
    if (r instanceof protobuf.Type) return depth > 3 ? {} : (samples(r, depth + 1)[i % 2] ?? {});
    if (r instanceof protobuf.Enum) return Object.keys(r.values)[1] ?? Object.keys(r.values)[0];
    switch (f.type) {
      case "string":
        return `${f.name}-${i}`;
      case "bool":
        return true;
      case "bytes":
        return Buffer.from([1, 2, i]);
      case "double":
      case "float":
        return 1.5 + i;
      default:
        return 7 + i;
    }
  };
  const base: Record<string, unknown> = {};
  const inOneof = new Set(type.oneofsArray.flatMap((o) => o.fieldsArray.map((f) => f.name)));
  for (const f of type.fieldsArray) {
    if (inOneof.has(f.name)) continue;
    if (f instanceof protobuf.MapField) base[f.name] = { k: value(f, 0) };
    else base[f.name] = f.repeated ? [value(f, 0), value(f, 1)] : value(f, 0);
  }
  const out = [base];
  for (const o of type.oneofsArray)
    for (const f of o.fieldsArray) out.push({ ...base, [f.name]: value(f, out.length) });
  return out;
}

describe("the discovery service read from its JSON descriptor with protobufjs/light", () => {
  const light = discoveryProto().meshlet.discovery.v1.Discovery.service;
  const ref = reference().meshlet.discovery.v1.Discovery.service;
  const root = new protobuf.Root().loadSync(`proto/${PROTO}`, { keepCase: false });
  root.resolveAll();

  it("has the same methods, paths, stream flags and names as @grpc/proto-loader's", () => {
    assert.deepEqual(Object.keys(light).sort(), Object.keys(ref).sort());
    for (const [name, m] of Object.entries(ref)) {
      const l = (light as unknown as Record<string, MethodDefinition<object, object>>)[name];
      assert.ok(l !== undefined, name);
      assert.deepEqual(
        [l.path, l.requestStream, l.responseStream, l.originalName],
        [m.path, m.requestStream, m.responseStream, m.originalName],
        name,
      );
    }
  });

  it("encodes to the same bytes and decodes to the same objects, for every message with every field set", () => {
    let checked = 0;
    for (const [name, m] of Object.entries(ref) as [string, MethodDefinition<object, object>][]) {
      const l = (light as unknown as Record<string, MethodDefinition<object, object>>)[name] as MethodDefinition<
        object,
        object
      >;
      const service = root.lookupService("meshlet.discovery.v1.Discovery");
      const method = service.methods[name] as Protobuf.Method;
      const sides: [
        Protobuf.Type,
        (v: object) => Buffer,
        (v: object) => Buffer,
        (b: Buffer) => object,
        (b: Buffer) => object,
      ][] = [
        [
          method.resolvedRequestType as Protobuf.Type,
          m.requestSerialize,
          l.requestSerialize,
          m.requestDeserialize,
          l.requestDeserialize,
        ],
        [
          method.resolvedResponseType as Protobuf.Type,
          m.responseSerialize,
          l.responseSerialize,
          m.responseDeserialize,
          l.responseDeserialize,
        ],
      ];
      for (const [type, refEncode, lightEncode, refDecode, lightDecode] of sides) {
        for (const sample of [{}, ...samples(type)]) {
          const bytes = refEncode(sample);
          assert.deepEqual(lightEncode(sample), bytes, `${type.name} ${JSON.stringify(sample)}`);
          assert.deepEqual(lightDecode(bytes), refDecode(bytes), `${type.name} decoded`);
          checked++;
        }
      }
    }
    assert.ok(checked > 30, `only ${checked} samples`);
  });
});

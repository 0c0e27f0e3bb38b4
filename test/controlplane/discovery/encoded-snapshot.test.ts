import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { discoveryProto } from "../../../src/config/discovery-proto.ts";
import { EncodedSnapshot } from "../../../src/controlplane/discovery/encoded-snapshot.ts";

const method = discoveryProto().meshlet.discovery.v1.Discovery.service.Stream;

const resource = fc.record({
  kind: fc.constantFrom("Service", "Route", "Policy"),
  name: fc.string({ minLength: 1, maxLength: 20 }),
  revision: fc.nat(1_000_000),
  json: fc.string({ maxLength: 300 }),
});
const endpoint = fc.record({
  service: fc.string({ minLength: 1, maxLength: 10 }),
  instance: fc.string({ minLength: 1, maxLength: 10 }),
  address: fc.constant("127.0.0.1"),
  port: fc.integer({ min: 1, max: 65535 }),
  labels: fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
  weight: fc.nat(100),
});

test("a shared encoding plus a stream's nonce decodes to the same response a per-stream encoding gives", () => {
  fc.assert(
    fc.property(
      fc.nat(2 ** 40),
      // up to ~60 KB of resources: snapshot lengths of one, two and three varint bytes
      fc.array(resource, { maxLength: 200 }),
      fc.array(endpoint, { maxLength: 20 }),
      fc.string({ maxLength: 200, unit: "grapheme" }),
      (version, resources, endpoints, nonce) => {
        const snapshot = { version, resources, endpoints };
        const bytes = new EncodedSnapshot(snapshot, method.responseSerialize).withNonce(nonce);
        const expected = method.responseDeserialize(method.responseSerialize({ snapshot: { ...snapshot, nonce } }));
        assert.deepEqual(method.responseDeserialize(bytes), expected);
      },
    ),
    { numRuns: 200, seed: 7 },
  );
});

test("one encoding serves many streams: each gets its own nonce and the same content", () => {
  const snapshot = {
    version: 42,
    resources: [{ kind: "Service", name: "web", revision: 3, json: "x".repeat(20_000) }],
    endpoints: [],
  };
  const shared = new EncodedSnapshot(snapshot, method.responseSerialize);
  const a = method.responseDeserialize(shared.withNonce("42.1"));
  const b = method.responseDeserialize(shared.withNonce("42.7"));
  assert.equal(a.snapshot?.nonce, "42.1");
  assert.equal(b.snapshot?.nonce, "42.7");
  assert.deepEqual({ ...a.snapshot, nonce: "" }, { ...b.snapshot, nonce: "" });
  assert.equal(a.snapshot?.resources[0]?.json.length, 20_000);
});

test("the stream serializer passes encoded bytes through and still encodes messages", () => {
  const bytes = Buffer.from([1, 2, 3]);
  assert.equal(method.responseSerialize(bytes as never), bytes);
  const encoded = method.responseSerialize({ config: { revision: 5, entries: [] } });
  assert.equal(method.responseDeserialize(encoded).config?.revision, 5);
});

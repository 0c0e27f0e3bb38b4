import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import jsonpatch from "fast-json-patch";
import { diff, pointer } from "../../src/kube/json-patch.ts";
import type { Json } from "../../src/kube/workloads.ts";

/** Applied with another implementation of RFC 6902, so a diff that only our own applier understands fails. */
const apply = (doc: Json, ops: ReturnType<typeof diff>): Json =>
  jsonpatch.applyPatch(structuredClone(doc), ops as jsonpatch.Operation[], true, false).newDocument as Json;

/** Compared as JSON: the generator makes objects without a prototype, which is no difference here. */
const same = (actual: Json, expected: Json) =>
  assert.deepEqual(JSON.parse(JSON.stringify(actual)), JSON.parse(JSON.stringify(expected)));

// Without "__proto__" keys: the reference applier refuses to write one (its guard against prototype pollution).
const json = fc
  .jsonValue({ maxDepth: 4 })
  .filter((v) => !JSON.stringify(v).includes('"__proto__"')) as fc.Arbitrary<Json>;
const named = fc.uniqueArray(fc.record({ name: fc.constantFrom("a", "b", "c", "d", "e"), v: fc.integer() }), {
  selector: (x) => x.name,
  maxLength: 5,
});

describe("JSON Patch diff", () => {
  it("turns any document into any other (property)", () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        same(apply({ root: a }, diff({ root: a }, { root: b })), { root: b });
      }),
      { numRuns: 500 },
    );
  });

  it("turns a list of named items into another, whatever was added, removed or changed (property)", () => {
    fc.assert(
      fc.property(named, named, (a, b) => {
        same(apply({ l: a }, diff({ l: a }, { l: b })), { l: b });
      }),
      { numRuns: 500 },
    );
  });

  it("prepends a container as one add at index 0", () => {
    const from = { containers: [{ name: "app" }] };
    const to = { containers: [{ name: "meshlet-proxy" }, { name: "app" }] };
    assert.deepEqual(diff(from, to), [{ op: "add", path: "/containers/0", value: { name: "meshlet-proxy" } }]);
  });

  it("escapes ~ and / in keys (annotation names such as prometheus.io/port)", () => {
    assert.equal(pointer(["metadata", "annotations", "a~b/c"]), "/metadata/annotations/a~0b~1c");
    const ops = diff({ a: {} }, { a: { "x/y": "1" } });
    assert.deepEqual(apply({ a: {} }, ops), { a: { "x/y": "1" } });
  });
});

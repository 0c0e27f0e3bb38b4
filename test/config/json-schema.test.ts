import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { renderJsonSchemas } from "../../src/config/json-schema.ts";

describe("JSON Schema for editors", () => {
  it("committed schemas/ matches the zod schemas (run npm run gen:schema)", async () => {
    for (const [file, text] of renderJsonSchemas()) {
      const committed = await readFile(new URL(`../../schemas/${file}`, import.meta.url), "utf8");
      assert.equal(committed, text, `schemas/${file} is stale`);
    }
  });

  it("rejects unknown fields and requires the kind, as validation does", () => {
    const route = JSON.parse(renderJsonSchemas().get("route.schema.json") ?? "{}");
    assert.equal(route.additionalProperties, false);
    assert.deepEqual(route.required, ["apiVersion", "kind", "metadata", "spec"]);
    assert.equal(route.properties.kind.const, "Route");
  });
});

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { formatFinding } from "../../src/config/finding.ts";
import { parseResources } from "../../src/config/load.ts";
import { checkMesh, errorsOf } from "../../src/config/mesh-check.ts";
import { drillSchema } from "../../src/drill/spec.ts";
import { REPO_ROOT } from "../helpers/cli.ts";

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

describe("examples", () => {
  const files = yamlFiles(join(REPO_ROOT, "examples")).filter((f) => !f.includes("kubernetes"));
  it("has resource examples", () => assert.ok(files.length > 0));
  for (const file of files) {
    it(`${relative(REPO_ROOT, file)} validates`, () => {
      const text = readFileSync(file, "utf8");
      // examples/drills holds scenarios (`meshlet drill FILE`) next to the resources they apply.
      const docs = parseAllDocuments(text);
      const doc: unknown = Array.isArray(docs) && docs.length === 1 ? docs[0]?.toJS() : undefined;
      if (typeof doc === "object" && doc !== null && "steps" in doc) {
        const drill = drillSchema.safeParse(doc);
        assert.ok(drill.success, drill.success ? "" : JSON.stringify(drill.error.issues[0]));
        return;
      }
      const resources = parseResources(text, file);
      assert.ok(resources.length > 0);
    });
  }

  it("examples/resources and examples/policies apply together with no error a sidecar would refuse", () => {
    const dirs = ["resources", "policies"].map((d) => join(REPO_ROOT, "examples", d));
    const resources = dirs.flatMap(yamlFiles).flatMap((f) => parseResources(readFileSync(f, "utf8"), f));
    assert.deepEqual(errorsOf(checkMesh(resources)).map(formatFinding), []);
  });
});

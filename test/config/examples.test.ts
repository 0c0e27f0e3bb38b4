import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { parseResources } from "../../src/config/load.ts";
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
      const resources = parseResources(readFileSync(file, "utf8"), file);
      assert.ok(resources.length > 0);
    });
  }
});

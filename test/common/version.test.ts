import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { MESHLET_VERSION } from "../../src/common/version.ts";
import { REPO_ROOT, runCli } from "../helpers/cli.ts";

it("the version every component reports is package.json's", async () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
  assert.equal(MESHLET_VERSION, pkg.version);
  const client = await runCli(["version", "--client", "-o", "json"]);
  assert.equal(client.code, 0, client.stderr);
  assert.deepEqual(JSON.parse(client.stdout), {
    clientVersion: { version: pkg.version, nodeJs: process.versions.node },
    serverVersion: null,
  });
});

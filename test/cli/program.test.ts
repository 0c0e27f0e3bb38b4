import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { envName } from "../../src/cli/options.ts";
import { buildProgram } from "../../src/cli/program.ts";
import { runCli } from "../helpers/cli.ts";

const SUBCOMMANDS = [
  "control",
  "sidecar",
  "await",
  "apply",
  "get",
  "delete",
  "diff",
  "status",
  "cluster",
  "config",
  "inject",
  "demo",
];

describe("meshlet CLI", () => {
  it("lists every planned subcommand in --help", async () => {
    const { code, stdout } = await runCli(["--help"]);
    assert.equal(code, 0);
    for (const name of SUBCOMMANDS) assert.match(stdout, new RegExp(`^\\s+${name}\\b`, "m"), `missing ${name}`);
  });

  it("registers exactly the subcommands of the design", () => {
    const names = buildProgram().commands.map((c) => c.name());
    assert.deepEqual([...names].sort(), [...SUBCOMMANDS].sort());
  });

  it("exits 2 with a message on an unknown subcommand", async () => {
    const { code, stderr } = await runCli(["no-such-command"]);
    assert.equal(code, 2);
    assert.match(stderr, /unknown command 'no-such-command'/);
  });

  it("rejects an unknown log level with exit 2", async () => {
    const { code, stderr } = await runCli(["--log-level", "loud", "--help"]);
    assert.equal(code, 2);
    assert.match(stderr, /--log-level: expected one of/);
  });

  it("maps long flags to MESHLET_* environment variables", () => {
    assert.equal(envName("--app-port <port>"), "MESHLET_APP_PORT");
    assert.equal(envName("--log-level <level>"), "MESHLET_LOG_LEVEL");
  });
});

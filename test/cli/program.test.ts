import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { envName } from "../../src/cli/options.ts";
import { buildProgram } from "../../src/cli/program.ts";
import { runCli } from "../helpers/cli.ts";
import { parseCommandLine } from "../helpers/parse-command.ts";

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
  "uninject",
  "injector",
  "iptables",
  "demo",
  "analyze",
  "check",
  "proxy-config",
  "chaos",
  "drill",
  "version",
  "token",
  "ca",
  "completion",
];

describe("meshlet CLI", () => {
  it("lists every subcommand in --help", async () => {
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

  it("gives the sidecar and the control plane the design's default ports and durations", async () => {
    const sidecar = await parseCommandLine(["sidecar", "--service", "a", "--app-port", "8080"]);
    assert.deepEqual(
      {
        outbound: sidecar.options.outbound,
        inbound: sidecar.options.inbound,
        admin: sidecar.options.admin,
        drainDelay: sidecar.options.drainDelay,
        drainTimeout: sidecar.options.drainTimeout,
      },
      {
        outbound: "127.0.0.1:15001",
        inbound: "0.0.0.0:15006",
        admin: "127.0.0.1:15000",
        drainDelay: "2s",
        drainTimeout: "10s",
      },
    );
    const control = await parseCommandLine(["control"]);
    assert.deepEqual(
      { grpc: control.options.grpc, http: control.options.http },
      { grpc: "127.0.0.1:15010", http: "127.0.0.1:15014" },
    );
  });

  it("has no planned placeholder left in --help", async () => {
    const { stdout } = await runCli(["--help"]);
    assert.doesNotMatch(stdout, /\(planned\)/);
  });

  it("names a missing --app-port as missing", async () => {
    const { code, stderr } = await runCli(["sidecar", "--service", "web", "--config", "mesh.yaml"]);
    assert.equal(code, 2);
    assert.match(stderr, /--app-port is required/);
  });

  it("refuses half a service account, names Kubernetes would refuse, and --token with --token-file", async () => {
    const base = ["sidecar", "--service", "web", "--app-port", "8080", "--control", "127.0.0.1:1"];
    for (const [args, message] of [
      [["--namespace", "bookinfo"], /--namespace and --service-account go together/],
      [["--service-account", "web"], /--namespace and --service-account go together/],
      [
        ["--namespace", "Bookinfo", "--service-account", "web"],
        /--namespace: "Bookinfo" is not a Kubernetes namespace/,
      ],
      [["--namespace", "bookinfo", "--service-account", "a..b"], /--service-account: "a..b" is not/],
      [["--token-file", "/nonexistent/token"], /--token-file \/nonexistent\/token: ENOENT/],
      [["--token", "mlt_x", "--token-file", "package.json"], /give --token or --token-file, not both/],
    ] as const) {
      const { code, stderr } = await runCli([...base, ...args]);
      assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
      assert.match(stderr, message);
    }
  });

  it("maps long flags to MESHLET_* environment variables", () => {
    assert.equal(envName("--app-port <port>"), "MESHLET_APP_PORT");
    assert.equal(envName("--log-level <level>"), "MESHLET_LOG_LEVEL");
  });
});

describe("meshlet sidecar's own program (the sidecar's fast path)", () => {
  it("has the root's flags and exactly the sidecar subcommand of the whole program", async () => {
    const { buildSidecarProgram } = await import("../../src/cli/sidecar-program.ts");
    const lean = buildSidecarProgram();
    const full = buildProgram();
    const flags = (c: { options: readonly { flags: string; defaultValue?: unknown }[] }) =>
      c.options.map((o) => `${o.flags}=${JSON.stringify(o.defaultValue)}`);
    assert.deepEqual(flags(lean), flags(full));
    assert.deepEqual(
      lean.commands.map((c) => c.name()),
      ["sidecar"],
    );
    const sidecar = (p: typeof lean) => p.commands.find((c) => c.name() === "sidecar");
    const a = sidecar(lean);
    const b = sidecar(full);
    assert.ok(a !== undefined && b !== undefined);
    assert.deepEqual(flags(a), flags(b));
    assert.equal(a.helpInformation(), b.helpInformation());
  });

  it("runs `meshlet sidecar --help` and refuses a bad flag as the whole program does", async () => {
    const help = await runCli(["sidecar", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--app-port/);
    const bad = await runCli(["sidecar", "--no-such-flag"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown option '--no-such-flag'/);
  });
});

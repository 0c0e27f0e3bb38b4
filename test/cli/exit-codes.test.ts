import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Command } from "commander";
import { buildProgram } from "../../src/cli/program.ts";
import { runCli } from "../helpers/cli.ts";

/** Every leaf command of the real tree, by path ("cluster add"). */
function leaves(root: Command): string[] {
  const out: string[] = [];
  const visit = (c: Command, prefix: string[]) => {
    for (const sub of c.commands) {
      const path = [...prefix, sub.name()];
      if (sub.commands.length === 0) out.push(path.join(" "));
      else visit(sub, path);
    }
  };
  visit(root, []);
  return out;
}

/**
 * Valid arguments that make each command that talks to a server call it (the
 * server given as {server}); every leaf command must be listed here or in
 * LOCAL, so a new command is classified (and tested) by whoever adds it.
 */
const CALLS_SERVER: Record<string, string[]> = {
  apply: ["-f", "{file}", "--server", "{server}"],
  get: ["services", "--server", "{server}"],
  delete: ["service", "x", "--server", "{server}"],
  diff: ["-f", "{file}", "--server", "{server}"],
  status: ["--server", "{server}"],
  analyze: ["--server", "{server}"],
  check: ["--server", "{server}"],
  version: ["--server", "{server}"],
  "proxy-config": ["{admin}"],
  "cluster status": ["--server", "{server}"],
  "cluster add": ["n9", "127.0.0.1:9", "--server", "{server}"],
  "cluster promote": ["n9", "--server", "{server}"],
  "cluster remove": ["n9", "--server", "{server}"],
  "cluster transfer": ["n9", "--server", "{server}"],
  "config get": ["k", "--server", "{server}"],
  "config put": ["k", "v", "--server", "{server}"],
  "config delete": ["k", "--server", "{server}"],
  "config list": ["--server", "{server}"],
  "config watch": ["k", "--server", "{server}"],
  "config release": ["k", "--value", "v", "--percent", "10", "--server", "{server}"],
  "config promote": ["k", "--server", "{server}"],
  "config rollback": ["k", "--server", "{server}"],
  "config history": ["k", "--server", "{server}"],
  "config status": ["k", "--server", "{server}"],
  "chaos start": ["--delay", "100ms", "--service", "ratings", "--for", "60s", "--server", "{server}"],
  "chaos list": ["--server", "{server}"],
  "chaos stop": ["x", "--server", "{server}"],
  "token create": ["--role", "read-only", "--name", "ci", "--server", "{server}"],
  "token list": ["--server", "{server}"],
  "token revoke": ["ci", "--server", "{server}"],
  "ca show": ["--server", "{server}"],
  "ca rotate": ["--server", "{server}"],
};
/** Commands that run something locally, with a usage error of their own besides unknown flags. */
const LOCAL: Record<string, string[]> = {
  control: ["--tick-ms", "zero"],
  sidecar: ["--service", "web"],
  await: [],
  inject: ["-f", "{file}", "--proxy-uid", "-1"],
  uninject: [],
  injector: ["--tls-key", "{file}"],
  iptables: ["--exclude-outbound-cidrs", "10.0.0.0/99"],
  demo: [],
  "demo fail": [],
  "demo heal": [],
  drill: [],
  completion: ["tcsh"],
};

/** The command at `path` in a fresh tree. */
function commandAt(path: string): Command | undefined {
  let c: Command | undefined = buildProgram();
  for (const name of path.split(" ")) c = c?.commands.find((s) => s.name() === name);
  return c;
}

/** Runs `fn` over `items`, a few CLI processes at a time. */
async function eachOf<T>(items: readonly T[], fn: (item: T) => Promise<void>, width = 4): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

describe("exit codes: 0 ok, 1 failed, 2 usage, 3 not reachable — for every subcommand", () => {
  const commands = leaves(buildProgram());
  let dir = "";
  let closedPort = 0;
  const fill = (args: string[]) =>
    args.map((a) =>
      a
        .replace("{server}", `http://127.0.0.1:${closedPort}`)
        .replace("{admin}", `127.0.0.1:${closedPort}`)
        .replace("{file}", join(dir, "svc.yaml")),
    );

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "meshlet-exit-"));
    await writeFile(join(dir, "svc.yaml"), "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: x}\n");
    // A port that was free a moment ago and nothing listens on: "connection refused", quickly.
    closedPort = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const a = s.address();
        s.close(() => resolve(typeof a === "object" && a !== null ? a.port : 0));
      });
    });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("knows every leaf command", () => {
    const known = new Set([...Object.keys(CALLS_SERVER), ...Object.keys(LOCAL)]);
    assert.deepEqual(
      commands.filter((c) => !known.has(c)),
      [],
      "classify the new command in this test",
    );
  });

  it("exits 2 on an unknown flag, for every subcommand", async () => {
    await eachOf(commands, async (path) => {
      const r = await runCli([...path.split(" "), ...fill(CALLS_SERVER[path] ?? []), "--no-such-flag"]);
      assert.equal(r.code, 2, `meshlet ${path} --no-such-flag: ${r.stderr}`);
      assert.match(r.stderr, /unknown option '--no-such-flag'/, path);
    });
  });

  it("exits 2 on a missing or invalid argument, for every subcommand that takes one", async () => {
    await eachOf(commands, async (path) => {
      const valid = CALLS_SERVER[path] ?? LOCAL[path] ?? [];
      // Without its arguments (a required one missing), or with the local command's own bad value.
      const args = LOCAL[path] !== undefined ? valid : valid.filter((a) => a.startsWith("--") || a === "{server}");
      const r = await runCli([...path.split(" "), ...fill(args)]);
      const needsArgs = CALLS_SERVER[path]?.some((a) => !a.startsWith("-") && !a.startsWith("{server}")) ?? true;
      if (needsArgs) assert.equal(r.code, 2, `meshlet ${path} ${args.join(" ")}: ${r.stderr}`);
    });
  });

  it("exits 2 on an unknown -o format, for every subcommand that has -o", async () => {
    const withOutput = commands.filter((path) => commandAt(path)?.options.some((o) => o.long === "--output"));
    assert.deepEqual(withOutput, [
      "apply",
      "get",
      "delete",
      "status",
      "cluster status",
      "config get",
      "config list",
      "config watch",
      "config release",
      "config promote",
      "config rollback",
      "config history",
      "config status",
      "analyze",
      "check",
      "proxy-config",
      "chaos start",
      "chaos list",
      "version",
      "token list",
      "ca show",
      "ca rotate",
    ]);
    await eachOf(withOutput, async (path) => {
      const r = await runCli([...path.split(" "), ...fill(CALLS_SERVER[path] ?? []), "-o", "xml"]);
      assert.equal(r.code, 2, `${path}: ${r.stderr}`);
      assert.match(r.stderr, /-o: expected one of [a-z, ]+, got "xml"/);
    });
  });

  it("exits 3 when the server cannot be reached, for every subcommand that calls one", async () => {
    await eachOf(Object.entries(CALLS_SERVER), async ([path, args]) => {
      const r = await runCli([...path.split(" "), ...fill(args)]);
      assert.equal(r.code, 3, `meshlet ${path}: ${r.stderr}`);
      assert.match(r.stderr, /cannot reach (the control plane|the sidecar admin API) at /, path);
    });
  });

  it("exits 0 for help and the version, whatever the subcommand", async () => {
    assert.equal((await runCli(["--version"])).code, 0);
    await eachOf(commands, async (path) => assert.equal((await runCli([...path.split(" "), "--help"])).code, 0, path));
    assert.equal((await runCli(["version", "--client"])).code, 0);
  });
});

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli } from "../helpers/cli.ts";
import { ensureDebianPackage } from "../helpers/debian.ts";

/** The generated scripts, loaded into the real shells: what a user typing TAB gets. */
describe("meshlet completion", () => {
  let dir = "";
  const script = async (shell: string) => {
    const r = await runCli(["completion", shell]);
    assert.equal(r.code, 0, r.stderr);
    const file = join(dir, `meshlet.${shell}`);
    await writeFile(file, r.stdout);
    return file;
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "meshlet-completion-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("bash: subcommands, nested ones, argument values, -o values, files for -f", async () => {
    const file = await script("bash");
    await writeFile(join(dir, "routes.yaml"), "");
    const complete = (words: string[]) =>
      execFileSync(
        "bash",
        [
          "-c",
          `source "$1"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _meshlet; printf '%s\\n' "\${COMPREPLY[@]}"`,
          "-",
          file,
        ],
        { cwd: dir, encoding: "utf8" },
      )
        .split("\n")
        .filter((l) => l !== "");
    assert.deepEqual(complete(["meshlet", "ge"]), ["get"]);
    assert.deepEqual(complete(["meshlet", "pro"]), ["proxy-config"]);
    assert.deepEqual(complete(["meshlet", "cluster", "p"]), ["promote"]);
    assert.deepEqual(complete(["meshlet", "get", "p"]), ["policies", "peerauthentications"]);
    assert.deepEqual(complete(["meshlet", "status", "-o", ""]), ["json", "yaml", "wide", "name"]);
    assert.deepEqual(complete(["meshlet", "apply", "--dry"]), ["--dry-run"]);
    assert.deepEqual(complete(["meshlet", "apply", "-f", "ro"]), ["routes.yaml"]);
    assert.deepEqual(complete(["meshlet", "completion", ""]), ["bash", "zsh", "fish", "--help"]);
    // The Kubernetes commands: inject/uninject/injector/iptables and their flags.
    assert.deepEqual(complete(["meshlet", "inj"]), ["inject", "injector"]);
    assert.deepEqual(complete(["meshlet", "unin"]), ["uninject"]);
    assert.deepEqual(complete(["meshlet", "iptables", "--cl"]), ["--clean"]);
    assert.deepEqual(complete(["meshlet", "inject", "--no-n"]), ["--no-native-sidecar"]);
    assert.deepEqual(complete(["meshlet", "injector", "--tls-cert", "ro"]), ["routes.yaml"]);
    // --dry-run takes a value for apply, none for iptables: after it, iptables' own flags.
    assert.deepEqual(complete(["meshlet", "apply", "--dry-run", "s"]), ["server"]);
    assert.deepEqual(complete(["meshlet", "iptables", "--dry-run", "--cl"]), ["--clean"]);
    // Fault experiments.
    assert.deepEqual(complete(["meshlet", "chaos", "s"]), ["start", "stop"]);
    assert.deepEqual(complete(["meshlet", "chaos", "start", "--side", ""]), ["outbound", "inbound"]);
    assert.deepEqual(complete(["meshlet", "chaos", "stop", "--a"]), ["--all"]);
    assert.deepEqual(complete(["meshlet", "sidecar", "--no-f"]), ["--no-faults"]);
  });

  it("zsh: the script parses, and offers what bash offers", async () => {
    ensureDebianPackage("zsh", "zsh");
    const file = await script("zsh");
    execFileSync("zsh", ["-n", file]);
    // Outside a completion widget: compdef and compadd stubbed, `words` and CURRENT set as zsh would.
    const offered = (words: string[]) =>
      execFileSync(
        "zsh",
        [
          "-c",
          `compdef() { :; }; compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@"; }; source "$1"; shift; words=("$@"); CURRENT=$#; _meshlet`,
          "-",
          file,
          ...words,
        ],
        { encoding: "utf8" },
      )
        .split("\n")
        .filter((l) => l !== "");
    assert.ok(offered(["meshlet", ""]).includes("analyze"));
    assert.deepEqual(offered(["meshlet", "config", ""]), [
      "get",
      "put",
      "delete",
      "list",
      "watch",
      "release",
      "promote",
      "rollback",
      "history",
      "status",
      "--help",
    ]);
    assert.deepEqual(offered(["meshlet", "check", "-o", ""]), ["json", "yaml", "wide", "name"]);
  });

  it("fish: complete -C answers with subcommands and flag values", async () => {
    ensureDebianPackage("fish", "fish");
    const file = await script("fish");
    const complete = (line: string) =>
      execFileSync("fish", ["-c", `source $argv[1]; complete -C"${line}"`, file], { encoding: "utf8" })
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.split("\t")[0]);
    assert.deepEqual(complete("meshlet ver"), ["version"]);
    assert.deepEqual(complete("meshlet cluster tr"), ["transfer"]);
    assert.deepEqual(complete("meshlet get -o "), ["json", "name", "wide", "yaml"]);
    assert.ok(complete("meshlet config get --").includes("--stale"), "config get's own flags");
    assert.ok(!complete("meshlet get --").includes("--stale"), "not config get's flags for get");
  });
});

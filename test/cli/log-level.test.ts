import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startCli, stopProcess } from "../helpers/cli.ts";

/**
 * `meshlet control --log-level warn` and `meshlet --log-level warn control` both quiet the node: commander hands
 * a flag after the subcommand to the program's option of the same name, which once left control at info.
 * The node is up once it logged its `--insecure` warning; its info lines (ready, leader changed) follow at once.
 */
for (const args of [
  ["control", "--log-level", "warn"],
  ["--log-level", "warn", "control"],
]) {
  test(`meshlet ${args.join(" ")} logs nothing below warn`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "meshlet-log-level-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const child = startCli([
      ...args,
      "--insecure",
      "--data-dir",
      dir,
      "--http",
      "127.0.0.1:0",
      "--grpc",
      "127.0.0.1:0",
    ]);
    t.after(() => stopProcess(child));
    let log = "";
    child.stderr?.on("data", (c: Buffer) => {
      log += c.toString();
    });
    const deadline = Date.now() + 20_000;
    while (!log.includes("--insecure") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(log, /"level":40/, "the --insecure warning is logged");
    // Long enough for the node to elect itself and say so at info, were info on.
    await new Promise((r) => setTimeout(r, 3_000));
    await stopProcess(child);
    assert.doesNotMatch(log, /"level":30/, log);
  });
}

import assert from "node:assert/strict";
import { test } from "node:test";
import { runCli } from "../../helpers/cli.ts";
import { route, service, startSidecar } from "../helpers.ts";
import { probe } from "./probe.ts";
import { startRawUpstream } from "./raw-upstream.ts";

test("--escaped-slashes reject, --merge-slashes and the sidecar's own --log-level warn", async (t) => {
  const up = await startRawUpstream();
  const config = [
    service("guarded", [{ port: up.port }]),
    route("guarded", "    - match: [{pathPrefix: /public/}]\n      destinations: [{service: guarded}]"),
  ].join("---\n");
  const sc = await startSidecar(config, {
    args: ["--escaped-slashes", "reject", "--merge-slashes", "--log-level", "warn"],
  });
  t.after(async () => {
    await sc.stop();
    await up.close();
  });
  const escaped = await probe(sc.outbound, "GET /public/a%2Fb HTTP/1.1\r\nHost: guarded\r\n\r\n", 99);
  assert.equal(escaped.statuses[0], 400);
  const merged = await probe(sc.outbound, "GET //public//a HTTP/1.1\r\nHost: guarded\r\n\r\n");
  assert.equal(merged.statuses[0], 200);
  assert.match(up.all(), /^GET \/public\/a HTTP\/1\.1\r\n/);
  // warn: the info line "config applied" is not written; the listening line is, at any level.
  assert.doesNotMatch(sc.logs(), /"config applied"/);
  assert.match(sc.logs(), /"sidecar listening"/);
});

test("--engine node, the deleted node:http path, is a usage error (exit 2) that names the removal", async () => {
  const r = await runCli([
    "sidecar",
    "--service",
    "a",
    "--app-port",
    "1",
    "--config",
    "/nonexistent",
    "--engine",
    "node",
  ]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--engine node was removed/);
  const byEnv = await runCli(["sidecar", "--service", "a", "--app-port", "1", "--config", "/nonexistent"], {
    env: { MESHLET_ENGINE: "node" },
  });
  assert.equal(byEnv.code, 2, byEnv.stderr);
  assert.match(byEnv.stderr, /--engine node was removed/);
});

test("an unknown --engine or --escaped-slashes value is a usage error (exit 2)", async () => {
  for (const args of [
    ["--engine", "nginx"],
    ["--escaped-slashes", "maybe"],
  ]) {
    const r = await runCli(["sidecar", "--service", "a", "--app-port", "1", "--config", "/nonexistent", ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(args[0] as string));
  }
});

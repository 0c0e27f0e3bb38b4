import assert from "node:assert/strict";
import { test } from "node:test";
import { leaderOf, makeCluster } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";

test("meshlet config get|put|delete|list and meshlet cluster status against a running node", async (t) => {
  const c = await makeCluster(1);
  t.after(() => c.stopAll());
  const [n1] = c.nodes;
  assert.ok(n1);
  c.start(n1);
  await leaderOf([n1]);
  const env = { MESHLET_SERVER: `https://${n1.http}` };

  const put = await runCli(["config", "put", "app/greeting", "hello"], { env });
  assert.equal(put.code, 0, put.stderr);
  const revision = put.stdout.trim();
  assert.match(revision, /^\d+$/);
  const got = await runCli(["config", "get", "app/greeting"], { env });
  assert.equal(got.stdout, "hello");
  assert.match(got.stderr, new RegExp(`revision ${revision}`));
  const piped = await runCli(["config", "put", "app/piped", "--server", `https://${n1.http}`], { input: "from stdin" });
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal((await runCli(["config", "get", "app/piped", "--stale"], { env })).stdout, "from stdin");

  const cas = await runCli(["config", "put", "app/greeting", "x", "--if-match", "999999"], { env });
  assert.notEqual(cas.code, 0);
  assert.match(cas.stderr, /412/);
  const list = await runCli(["config", "list", "app/"], { env });
  assert.deepEqual(
    list.stdout
      .trim()
      .split("\n")
      .map((l) => l.split("\t")[0]),
    ["app/greeting", "app/piped"],
  );
  assert.equal((await runCli(["config", "delete", "app/piped"], { env })).code, 0);
  const missing = await runCli(["config", "get", "app/piped"], { env });
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /not found/);

  const status = await runCli(["cluster", "status"], { env: { MESHLET_SERVER: n1.http } });
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /leader n1/);
  assert.match(status.stdout, /n1\*\tvoter/);
  const dup = await runCli(["cluster", "add", "n1", "127.0.0.1:1"], { env });
  assert.notEqual(dup.code, 0);
  assert.match(dup.stderr, /already exists/);
  const down = await runCli(["cluster", "status", "--server", "http://127.0.0.1:1"]);
  assert.notEqual(down.code, 0);
  assert.match(down.stderr, /cannot reach/);

  // A second node process on the running node's data dir would append to the same WAL: refused.
  const second = await runCli([
    "control",
    "--id",
    "n1",
    "--data-dir",
    n1.dataDir,
    "--grpc",
    "127.0.0.1:0",
    "--http",
    "127.0.0.1:0",
  ]);
  assert.equal(second.code, 2);
  assert.match(second.stderr, /is in use by process \d+; refusing to start .*\(ERR_DATA_DIR_LOCKED\)/);
  assert.equal((await runCli(["cluster", "status"], { env })).code, 0, "the running node is unharmed");

  // A busy gRPC port: one line that names the listener, not grpc-js's own line on top of it.
  const busy = await runCli([
    "control",
    "--data-dir",
    `${n1.dataDir}-busy`,
    "--grpc",
    n1.grpc,
    "--http",
    "127.0.0.1:0",
  ]);
  assert.equal(busy.code, 2);
  assert.match(busy.stderr, new RegExp(`gRPC listener ${n1.grpc}: .*EADDRINUSE.*\\(ERR_LISTEN\\)`));
  assert.doesNotMatch(busy.stderr, /^E /m);
});

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { FAST_FLAGS, get, leaderOf, makeCluster, put, status, until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";

/**
 * docs/control-plane.md, "Recovering a node": a member whose WAL is unreadable refuses to start and says
 * where; it is removed, its data dir moved away, and it joins again empty, getting the state from a peer.
 */
test("a member with an unreadable WAL is restored from its peers as the docs describe", async (t) => {
  const c = await makeCluster(3);
  t.after(() => c.stopAll());
  const [n1, n2, n3] = c.nodes;
  assert.ok(n1 && n2 && n3);
  for (const node of c.nodes) c.start(node);
  const first = await leaderOf(c.nodes);
  for (let i = 0; i < 30; i++) assert.equal((await put(first, `k${i}`, `value-${i}`)).status, 200);
  await until("n3 has everything", async () => ((await get(n3, "k29", true)).status === 200 ? true : undefined));
  await c.kill9(n3);

  // A flipped byte in the middle of n3's log.
  const walDir = path.join(n3.dataDir, "wal");
  const seg = path.join(walDir, fs.readdirSync(walDir).sort()[0] ?? "");
  const buf = fs.readFileSync(seg);
  const at = buf.indexOf('"key":"k5"');
  buf[at] = "X".charCodeAt(0);
  fs.writeFileSync(seg, buf);
  const refused = await runCli(
    [
      "control",
      "--id",
      "n3",
      "--data-dir",
      n3.dataDir,
      "--grpc",
      n3.grpc,
      "--http",
      n3.http,
      "--peers",
      c.peers,
      ...FAST_FLAGS,
    ],
    { timeoutMs: 20_000 },
  );
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /is corrupt at offset \d+, after entry \d+ \(checksum mismatch\).*Recovering a node/);

  const lead = await leaderOf([n1, n2]);
  const server = `https://${lead.http}`;
  const removed = await runCli(["cluster", "remove", "n3", "--server", server]);
  assert.equal(removed.code, 0, removed.stderr);
  fs.renameSync(n3.dataDir, `${n3.dataDir}.broken`);
  c.start(n3, ["--join", lead.http]);
  await until("n3 caught up as a learner", async () =>
    (await get(n3, "k29", true)).status === 200 ? true : undefined,
  );
  assert.equal((await runCli(["cluster", "promote", "n3", "--server", server])).code, 0);
  await until("n3 is a voter again", async () =>
    (await status(lead)).members.some((m) => m.id === "n3" && m.role === "voter") ? true : undefined,
  );
  for (let i = 0; i < 30; i++) assert.equal(await (await get(n3, `k${i}`, true)).text(), `value-${i}`);
  assert.equal((await put(n3, "after", "x")).status, 200);
});

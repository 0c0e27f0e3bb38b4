import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { FAST_FLAGS, get, leaderOf, makeCluster, put, until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";

function segments(dataDir: string): string[] {
  const dir = path.join(dataDir, "wal");
  return fs
    .readdirSync(dir)
    .sort()
    .map((f) => path.join(dir, f));
}

test("kill -9 during a write burst: every acknowledged write survives the restart", async (t) => {
  const c = await makeCluster(1);
  t.after(() => c.stopAll());
  const [n1] = c.nodes;
  assert.ok(n1);
  c.start(n1);
  await leaderOf([n1]);
  const acked: string[] = [];
  let stop = false;
  const writers = Array.from({ length: 8 }, async (_, w) => {
    for (let i = 0; !stop; i++) {
      try {
        const r = await put(n1, `burst/${w}/${i}`, `v${i}`);
        if (r.status === 200) acked.push(`burst/${w}/${i}`);
      } catch {
        return;
      }
    }
  });
  await until("some acknowledged writes", async () => (acked.length >= 200 ? true : undefined));
  await c.kill9(n1);
  stop = true;
  await Promise.all(writers);
  c.start(n1);
  await leaderOf([n1]);
  const listed = (await (await fetch(`https://${n1.http}/v1/config?prefix=burst/`)).json()) as { key: string }[];
  const have = new Set(listed.map((e) => e.key));
  const lost = acked.filter((k) => !have.has(k));
  assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acknowledged writes lost`);
});

test("a truncated WAL tail recovers; a corrupted middle record refuses to start", async (t) => {
  const c = await makeCluster(1);
  t.after(() => c.stopAll());
  const [n1] = c.nodes;
  assert.ok(n1);
  c.start(n1);
  await leaderOf([n1]);
  for (let i = 0; i < 20; i++) assert.equal((await put(n1, `k${i}`, `value-${i}`)).status, 200);
  await c.kill9(n1);

  const seg = segments(n1.dataDir).at(-1) ?? "";
  fs.truncateSync(seg, fs.statSync(seg).size - 3);
  c.start(n1);
  await leaderOf([n1]);
  // The torn record was the last entry (k19): it may be gone, everything before it is there.
  assert.equal(await (await get(n1, "k18")).text(), "value-18");
  assert.match(n1.log.join(""), /torn/);
  for (let i = 20; i < 25; i++) assert.equal((await put(n1, `k${i}`, `value-${i}`)).status, 200);
  await c.kill9(n1);

  const buf = fs.readFileSync(seg);
  const at = buf.indexOf(`"key":"k5"`);
  assert.ok(at > 0, "record of k5 is in the first segment");
  buf[at] = "X".charCodeAt(0);
  fs.writeFileSync(seg, buf);
  const r = await runCli(
    ["control", "--id", n1.id, "--data-dir", n1.dataDir, "--grpc", n1.grpc, "--http", n1.http, ...FAST_FLAGS],
    {
      timeoutMs: 20_000,
    },
  );
  assert.equal(r.code, 2);
  assert.match(r.stderr, /corrupt.*refusing to start/);

  const foreign = await runCli(
    ["control", "--id", "other", "--data-dir", n1.dataDir, "--grpc", n1.grpc, "--http", n1.http, ...FAST_FLAGS],
    {
      timeoutMs: 20_000,
    },
  );
  assert.equal(foreign.code, 2);
  assert.match(foreign.stderr, /belongs to node "n1"/);
});

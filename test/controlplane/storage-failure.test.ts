import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { silentLogger } from "../../src/common/logger.ts";
import { MAX_ENTRY_BYTES, Wal } from "../../src/raft-node/wal.ts";
import { diskFullFaults } from "../helpers/fs-faults.ts";
import { until } from "./harness.ts";
import { startRealNode } from "./real-node.ts";

interface ClusterBody {
  leader: string;
  health: string;
  storage: { writable: boolean; code?: string; error?: string; since?: string };
}

/**
 * The data dir of a real in-process node fails as a full disk does (every write and fsync under it gets
 * ENOSPC), then heals. test/integration/control-disk-full.test.ts does the same with a real full tmpfs.
 */
test("a full data dir: writes get 507, reads are served, the node recovers by itself, nothing acknowledged is lost", async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "meshlet-full-"));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const faults = diskFullFaults(root);
  t.after(() => faults.restore());
  const node = await startRealNode(t, { dataDir: path.join(root, "data") });
  const put = (key: string, value: string) =>
    fetch(`${node.base}/v1/config/${key}`, { method: "PUT", body: value, headers: { "x-meshlet-timeout": "1500" } });
  const acked = new Map<string, string>();
  for (let i = 0; i < 20; i++) {
    const r = await put(`k${i}`, `v${i}`);
    assert.equal(r.status, 200);
    acked.set(`k${i}`, `v${i}`);
  }

  faults.fail();
  // The write that meets the full disk is in flight when it fails: its outcome is unknown (503 at the deadline).
  const first = await put("during", "x");
  assert.ok(first.status === 503 || first.status === 507, `first write: ${first.status}`);
  const refused = await put("refused", "x");
  assert.equal(refused.status, 507);
  const body = (await refused.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, "ERR_NO_SPACE");
  assert.match(body.error.message, /cannot write to its data dir since .*ENOSPC/);
  const apply = await fetch(`${node.base}/v1/apply`, {
    method: "POST",
    body: "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: web}\n",
  });
  assert.equal(apply.status, 507);

  for (const [key, value] of acked) {
    assert.equal(await (await fetch(`${node.base}/v1/config/${key}`)).text(), value, `${key} (linearizable)`);
  }
  assert.equal(await (await fetch(`${node.base}/v1/config/k3?consistency=stale`)).text(), "v3");
  const cluster = (await (await fetch(`${node.base}/v1/cluster`)).json()) as ClusterBody;
  assert.equal(cluster.health, "degraded");
  assert.equal(cluster.leader, "", "a node that cannot persist does not lead");
  assert.equal(cluster.storage.writable, false);
  assert.equal(cluster.storage.code, "ERR_NO_SPACE");
  const metrics = await (await fetch(`${node.base}/metrics`)).text();
  assert.match(metrics, /^meshlet_storage_degraded 1$/m);
  assert.match(metrics, /^meshlet_storage_failures_total\{code="ERR_NO_SPACE"\} 1$/m);

  faults.heal();
  await until(
    "the node takes writes again",
    async () => {
      const r = await put("after", "y");
      return r.status === 200 ? true : undefined;
    },
    15_000,
  );
  acked.set("after", "y");
  const healed = (await (await fetch(`${node.base}/v1/cluster`)).json()) as ClusterBody;
  assert.equal(healed.health, "ok");
  assert.equal(healed.leader, "n1");
  assert.match(await (await fetch(`${node.base}/metrics`)).text(), /^meshlet_storage_degraded 0$/m);

  await node.stop();
  faults.restore();
  // What is on disk: every acknowledged write, and a log that opens without a torn record.
  const warnings: string[] = [];
  const { wal, recovered } = Wal.open({
    dir: path.join(root, "data"),
    nodeId: "n1",
    clusterId: node.clusterId,
    logger: Object.assign(silentLogger(), { warn: (...a: unknown[]) => warnings.push(JSON.stringify(a)) }),
  });
  wal.close();
  const text = recovered.entries.map((e) => new TextDecoder().decode(e.data)).join("\n");
  for (const [key, value] of acked) {
    assert.ok(text.includes(`"key":"${key}","value":"${Buffer.from(value).toString("base64")}"`), `${key} on disk`);
  }
  assert.deepEqual(warnings, []);
});

test("a proposal larger than a Raft entry is refused before it is proposed (413)", async (t) => {
  const node = await startRealNode(t);
  const walDir = path.join(node.dataDir, "wal");
  const size = () => fs.readdirSync(walDir).reduce((n, f) => n + fs.statSync(path.join(walDir, f)).size, 0);
  const before = size();
  const revision = node.running.node.kv.revision;
  await assert.rejects(
    node.running.node.propose(
      { type: "config.put", key: "big", value: "x".repeat(MAX_ENTRY_BYTES) },
      { deadlineMs: 2_000 },
    ),
    (err: Error & { code?: string }) =>
      err.code === "ERR_TOO_LARGE" && err.message.includes(`at most ${MAX_ENTRY_BYTES} bytes`),
  );
  assert.equal(size(), before, "nothing reached the WAL");
  assert.equal(node.running.node.kv.revision, revision);
});

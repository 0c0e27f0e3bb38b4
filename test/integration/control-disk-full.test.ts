import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { status as grpcStatus } from "@grpc/grpc-js";
import { clusterIdFor } from "../../src/controlplane/run.ts";
import { raftProto } from "../../src/raft-node/raft-proto.ts";
import {
  type Cluster,
  type ControlProc,
  FAST_FLAGS,
  get,
  leaderOf,
  makeCluster,
  put,
  status,
  until,
} from "../controlplane/harness.ts";
import { isRoot, type TmpfsNamespace, tmpfsNamespace } from "../helpers/tmpfs-namespace.ts";
import { adminTokenFile, authorizeControlPlane } from "../support/control-auth.ts";
import { peerCredentials } from "../support/control-grpc.ts";

const MiB = 1024 * 1024;
const skip = isRoot() ? false : "needs root: the data dir is a small tmpfs mounted in a private mount namespace";

/** Starts `node` in `ns`, its data dir on the tmpfs, with the flags `c.start` would give it. */
function startIn(ns: TmpfsNamespace, c: Cluster, node: ControlProc): void {
  node.dataDir = path.join(ns.dir, node.id);
  const proc = ns.startCli([
    "control",
    ...["--id", node.id, "--data-dir", node.dataDir, "--grpc", node.grpc, "--http", node.http],
    ...["--peers", c.peers, ...FAST_FLAGS],
  ]);
  proc.stdout?.on("data", (d: Buffer) => node.log.push(d.toString()));
  proc.stderr?.on("data", (d: Buffer) => node.log.push(d.toString()));
  node.proc = proc;
  // Its admin token is written inside the namespace: calls to it read the file from outside.
  authorizeControlPlane(`https://${node.http}`, ns.outside(adminTokenFile(node.dataDir)));
}

/** PUTs `key` until the node refuses one (the disk was full); the acknowledged ones join `acked`. */
async function writeUntilRefused(node: ControlProc, prefix: string, acked: Map<string, string>): Promise<number> {
  for (let i = 0; i < 2_000; i++) {
    const value = `${prefix}-${i}-${"v".repeat(200)}`;
    const r = await put(node, `${prefix}/${i}`, value, { "x-meshlet-timeout": "1500" });
    if (r.status !== 200) return r.status;
    acked.set(`${prefix}/${i}`, value);
  }
  assert.fail("the full disk never refused a write");
}

interface Health {
  health: string;
  leader: string;
  storage: { writable: boolean; code?: string; error?: string };
}
const health = async (node: ControlProc) => (await (await fetch(`https://${node.http}/v1/cluster`)).json()) as Health;

async function assertAllPresent(node: ControlProc, acked: Map<string, string>, stale = false): Promise<void> {
  for (const [key, value] of acked) {
    const r = await get(node, key, stale);
    assert.equal(r.status, 200, `${key} on ${node.id}`);
    assert.equal(await r.text(), value, `${key} on ${node.id}`);
  }
}

test("disk full on a single node: 507, reads served, recovery by itself, every acknowledged write kept", {
  skip,
}, async (t) => {
  const ns = await tmpfsNamespace(8 * MiB);
  t.after(() => ns.close());
  const c = await makeCluster(1);
  t.after(() => c.stopAll());
  const [n1] = c.nodes;
  assert.ok(n1);
  startIn(ns, c, n1);
  await leaderOf([n1]);
  const acked = new Map<string, string>();
  for (let i = 0; i < 20; i++) {
    const value = `before-${i}`;
    assert.equal((await put(n1, `before/${i}`, value)).status, 200);
    acked.set(`before/${i}`, value);
  }

  const filler = ns.fill();
  const first = await writeUntilRefused(n1, "filling", acked);
  assert.ok(first === 507 || first === 503, `the write that met the full disk: ${first}`);
  const t0 = Date.now();
  const refused = await put(n1, "refused", "x");
  assert.equal(refused.status, 507);
  assert.ok(Date.now() - t0 < 1_000, "refused at once, not at the deadline");
  const err = (await refused.json()) as { error: { code: string; message: string } };
  assert.equal(err.error.code, "ERR_NO_SPACE");
  assert.match(err.error.message, /ENOSPC|bytes free/);

  await assertAllPresent(n1, acked);
  await assertAllPresent(n1, acked, true);
  const h = await health(n1);
  assert.equal(h.health, "degraded");
  assert.equal(h.storage.code, "ERR_NO_SPACE");
  assert.equal(h.leader, "");
  assert.match(await (await fetch(`https://${n1.http}/metrics`)).text(), /^meshlet_storage_degraded 1$/m);
  assert.equal(n1.proc?.exitCode, null, "the node is still running");

  fs.rmSync(ns.outside(filler));
  await until("writes resume by themselves", async () =>
    (await put(n1, "after", "y")).status === 200 ? true : undefined,
  );
  acked.set("after", "y");
  assert.equal((await health(n1)).health, "ok");
  await assertAllPresent(n1, acked);

  // Full again, killed while refusing writes: what is on disk must open without a torn record.
  const filler2 = ns.fill();
  await writeUntilRefused(n1, "again", acked);
  await c.kill9(n1);
  fs.rmSync(ns.outside(filler2));
  n1.log.length = 0;
  startIn(ns, c, n1);
  await leaderOf([n1]);
  await assertAllPresent(n1, acked);
  assert.doesNotMatch(n1.log.join(""), /torn|corrupt/, n1.log.join(""));
});

test("disk full on the leader of three: it steps down, peers get RESOURCE_EXHAUSTED, the others carry on, it catches up", {
  skip,
}, async (t) => {
  const ns = await tmpfsNamespace(8 * MiB);
  t.after(() => ns.close());
  const c = await makeCluster(3);
  t.after(() => c.stopAll());
  const [n1, n2, n3] = c.nodes;
  assert.ok(n1 && n2 && n3);
  startIn(ns, c, n1);
  c.start(n2);
  c.start(n3);
  // One token serves the whole cluster: n1's, written inside the namespace.
  for (const n of [n2, n3]) authorizeControlPlane(`https://${n.http}`, ns.outside(adminTokenFile(n1.dataDir)));
  let lead = await leaderOf(c.nodes);
  if (lead !== n1) {
    await fetch(`https://${lead.http}/v1/cluster/leader`, { method: "POST", body: JSON.stringify({ id: "n1" }) });
    lead = await until("n1 leads", async () => ((await status(n1)).leader === "n1" ? n1 : undefined));
  }
  const acked = new Map<string, string>();
  for (let i = 0; i < 20; i++) {
    assert.equal((await put(n1, `before/${i}`, `b${i}`)).status, 200);
    acked.set(`before/${i}`, `b${i}`);
  }

  ns.fill();
  await writeUntilRefused(n1, "filling", acked);
  const next = await leaderOf([n2, n3], 15_000);
  assert.notEqual(next.id, "n1");
  assert.equal((await health(n1)).health, "degraded");
  assert.equal((await put(n1, "refused", "x")).status, 507);

  // A peer forwarding a proposal to n1 is told RESOURCE_EXHAUSTED.
  const Raft = raftProto().meshlet.raft.v1.Raft;
  // As a peer would: with a node certificate of the cluster (from n2, which can still write).
  const client = new Raft(n1.grpc, await peerCredentials(n2.http, clusterIdFor(["n1", "n2", "n3"]), "n2"));
  t.after(() => client.close());
  const code = await new Promise<number | undefined>((resolve) =>
    client.Forward(
      { clusterId: clusterIdFor(["n1", "n2", "n3"]), data: Buffer.from("x"), confChange: false },
      { deadline: Date.now() + 5_000 },
      (e) => resolve(e?.code),
    ),
  );
  assert.equal(code, grpcStatus.RESOURCE_EXHAUSTED);

  // The cluster carries on without it; it still serves the reads it can (stale), not linearizable ones.
  for (let i = 0; i < 20; i++) {
    assert.equal((await put(next, `during/${i}`, `d${i}`)).status, 200);
    acked.set(`during/${i}`, `d${i}`);
  }
  assert.equal(await (await get(n1, "before/3", true)).text(), "b3");
  const linearizable = await get(n1, "before/3");
  assert.equal(linearizable.status, 503);
  assert.equal(((await linearizable.json()) as { error: { code: string } }).error.code, "ERR_NODE_DEGRADED");

  fs.rmSync(
    ns.outside(path.join(ns.dir, fs.readdirSync(ns.outside(ns.dir)).find((f) => f.startsWith("filler")) ?? "")),
  );
  await until("n1 writable again", async () => ((await health(n1)).health === "ok" ? true : undefined));
  await until("n1 caught up", async () => ((await get(n1, "during/19", true)).status === 200 ? true : undefined));
  assert.equal((await put(n1, "after", "z")).status, 200);
  acked.set("after", "z");
  for (const node of c.nodes) await assertAllPresent(node, acked);
});

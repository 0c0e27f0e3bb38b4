import assert from "node:assert/strict";
import { test } from "node:test";
import { FAST_FLAGS, get, leaderOf, makeCluster, put, status, until } from "../controlplane/harness.ts";

test("3 nodes: replicated writes, reads on followers, failover, restart catch-up, snapshot catch-up", async (t) => {
  const c = await makeCluster(3, [...FAST_FLAGS, "--snapshot-every", "50", "--snapshot-keep", "10"]);
  t.after(() => c.stopAll());
  for (const n of c.nodes) c.start(n);
  const leader = await leaderOf(c.nodes);
  const followers = c.nodes.filter((n) => n !== leader);

  const w = await put(leader, "app/a", "one");
  assert.equal(w.status, 200);
  for (const f of followers) {
    const lin = await get(f, "app/a");
    assert.equal(lin.status, 200);
    assert.equal(await lin.text(), "one");
    const stale = await until("stale read on follower", async () => {
      const r = await get(f, "app/a", true);
      return r.status === 200 ? r.text() : undefined;
    });
    assert.equal(stale, "one");
  }
  const viaFollower = await put(followers[0] ?? leader, "app/b", "two");
  assert.equal(viaFollower.status, 200);
  assert.equal(await (await get(leader, "app/b")).text(), "two");

  await c.kill9(leader);
  const next = await leaderOf(followers);
  assert.notEqual(next.id, leader.id);
  assert.equal((await put(next, "app/c", "three")).status, 200);

  c.start(leader);
  const caughtUp = await until("restarted node catches up", async () => {
    const r = await get(leader, "app/c", true);
    return r.status === 200 ? r.text() : undefined;
  });
  assert.equal(caughtUp, "three");

  // Far behind: miss more than a snapshot interval of entries, then come back.
  const lagging = followers.find((n) => n !== next) ?? leader;
  await c.kill9(lagging);
  for (let i = 0; i < 120; i++) assert.equal((await put(next, `bulk/${i}`, `v${i}`)).status, 200);
  c.start(lagging);
  const last = await until("lagging node catches up", async () => {
    const r = await get(lagging, "bulk/119", true);
    return r.status === 200 ? r.text() : undefined;
  });
  assert.equal(last, "v119");
  const metrics = await (await fetch(`https://${lagging.http}/metrics`)).text();
  assert.match(metrics, /meshlet_raft_snapshots_total\{origin="received"\} [1-9]/);
});

test("membership: add a learner with --join, promote it, remove a voter, transfer leadership", async (t) => {
  const c = await makeCluster(4);
  t.after(() => c.stopAll());
  const [n1, n2, n3, n4] = c.nodes;
  assert.ok(n1 && n2 && n3 && n4);
  c.peers = [n1, n2, n3].map((n) => `${n.id}=${n.grpc}`).join(",");
  for (const n of [n1, n2, n3]) c.start(n);
  const leader = await leaderOf([n1, n2, n3]);
  assert.equal((await put(leader, "k", "before-join")).status, 200);

  c.start(n4, ["--join", n2.http]);
  await until("n4 is a learner", async () => {
    const s = await status(leader);
    return s.members.some((m) => m.id === "n4" && m.role === "learner") ? true : undefined;
  });
  assert.equal(
    await until("learner replicates", async () => {
      const r = await get(n4, "k", true);
      return r.status === 200 ? r.text() : undefined;
    }),
    "before-join",
  );

  const dup = await fetch(`https://${leader.http}/v1/cluster/members`, {
    method: "POST",
    body: JSON.stringify({ id: "n4", address: n4.grpc, learner: true }),
  });
  assert.equal(dup.status, 409);
  const badJson = await fetch(`https://${leader.http}/v1/cluster/members`, { method: "POST", body: "{nope" });
  assert.equal(badJson.status, 400);

  const promote = await fetch(`https://${n3.http}/v1/cluster/members/n4/promote`, { method: "POST" });
  assert.equal(promote.status, 200, await promote.text());
  const removed = leader.id === "n1" ? n3 : n1;
  const del = await fetch(`https://${leader.http}/v1/cluster/members/${removed.id}`, { method: "DELETE" });
  assert.equal(del.status, 200, await del.text());
  const members = (await status(leader)).members.map((m) => `${m.id}:${m.role}`).sort();
  assert.deepEqual(
    members,
    ["n1", "n2", "n3", "n4"].filter((id) => id !== removed.id).map((id) => `${id}:voter`),
  );

  const target = "n4";
  const transfer = await fetch(`https://${leader.http}/v1/cluster/leader`, {
    method: "POST",
    body: JSON.stringify({ id: target }),
  });
  assert.equal(transfer.status, 200, await transfer.text());
  const remaining = c.nodes.filter((n) => n !== removed);
  assert.equal((await leaderOf(remaining)).id, target);
  assert.equal((await put(n4, "k", "after-transfer")).status, 200);
});

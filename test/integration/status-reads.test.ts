import assert from "node:assert/strict";
import { test } from "node:test";
import { makeCluster, until } from "../controlplane/harness.ts";

// Issue 25, 5 (c): with the leader frozen (SIGSTOP: its kernel still accepts connections, nothing answers),
// status reads answer from any other node within a timeout, saying the answer may be stale.

interface ClusterBody {
  id: string;
  leader: string;
  stale?: boolean;
  leaderContactMs?: number;
}

interface SidecarsBody {
  sidecars: unknown[];
  unreachable: string[];
  stale?: boolean;
}

async function get<T>(http: string, path: string): Promise<{ ms: number; status: number; body: T }> {
  const start = performance.now();
  const r = await fetch(`https://${http}${path}`, { signal: AbortSignal.timeout(10_000) });
  const body = (await r.json()) as T;
  return { ms: performance.now() - start, status: r.status, body };
}

test("GET /v1/sidecars and /v1/cluster answer from a follower within a timeout while the leader is frozen, marked stale", async (t) => {
  const cluster = await makeCluster(3);
  t.after(async () => {
    for (const n of cluster.nodes) n.proc?.kill("SIGCONT");
    await cluster.stopAll();
  });
  for (const n of cluster.nodes) cluster.start(n);
  const [first] = cluster.nodes;
  assert.ok(first);
  const leaderId = await until("a leader", async () => {
    const r = await get<ClusterBody>(first.http, "/v1/cluster").catch(() => undefined);
    return r?.body.leader === "" ? undefined : r?.body.leader;
  });
  const leader = cluster.nodes.find((n) => n.id === leaderId);
  const follower = cluster.nodes.find((n) => n.id !== leaderId);
  assert.ok(leader?.proc && follower);
  await until("every node answers /v1/sidecars in full", async () => {
    const r = await get<SidecarsBody>(follower.http, "/v1/sidecars");
    return r.status === 200 && r.body.unreachable.length === 0 ? true : undefined;
  });
  const healthy = await get<SidecarsBody>(follower.http, "/v1/sidecars");
  assert.equal(healthy.body.stale, false);
  assert.deepEqual(healthy.body.unreachable, []);
  const healthyCluster = await get<ClusterBody>(follower.http, "/v1/cluster");
  assert.equal(healthyCluster.body.stale, false);

  leader.proc.kill("SIGSTOP");
  const frozenAt = performance.now();
  // Right after the freeze, and again and again until a new leader: every read answers fast.
  const slowest = { sidecars: 0, cluster: 0 };
  let sawStaleSidecars = false;
  let sawStaleLeader = false;
  const end = Date.now() + 3_000;
  const sidecarReads = async () => {
    while (Date.now() < end) {
      const s: { ms: number; status: number; body: SidecarsBody } = await get<SidecarsBody>(
        follower.http,
        "/v1/sidecars",
      );
      assert.equal(s.status, 200);
      slowest.sidecars = Math.max(slowest.sidecars, s.ms);
      if (s.body.stale === true) {
        sawStaleSidecars = true;
        assert.deepEqual(s.body.unreachable, [leader.id], "the frozen leader is named as missing");
      }
    }
  };
  const clusterReads = async () => {
    while (Date.now() < end) {
      const sentAfter = performance.now() - frozenAt;
      const c: { ms: number; status: number; body: ClusterBody } = await get<ClusterBody>(follower.http, "/v1/cluster");
      slowest.cluster = Math.max(slowest.cluster, c.ms);
      // A follower still naming the frozen node as its leader says how long it has not heard from it and,
      // past a few missed heartbeats (300 ms with 50 ms ticks), that its answer is stale.
      if (c.body.leader !== leader.id) continue;
      assert.ok(
        (c.body.leaderContactMs ?? 0) >= sentAfter - 250,
        `leaderContactMs ${c.body.leaderContactMs} ${Math.round(sentAfter)} ms after the freeze`,
      );
      if (sentAfter > 600)
        assert.equal(c.body.stale, true, `names the frozen leader as fresh: ${JSON.stringify(c.body)}`);
      if (c.body.stale === true) sawStaleLeader = true;
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await Promise.all([sidecarReads(), clusterReads()]);
  assert.ok(sawStaleSidecars, "the list without the frozen node said stale");
  assert.ok(slowest.sidecars < 1_000, `GET /v1/sidecars took up to ${Math.round(slowest.sidecars)} ms`);
  assert.ok(slowest.cluster < 200, `GET /v1/cluster took up to ${Math.round(slowest.cluster)} ms`);
  assert.ok(sawStaleLeader, "the follower said stale while it still named the frozen leader");
  t.diagnostic(
    `slowest while frozen: GET /v1/sidecars ${Math.round(slowest.sidecars)} ms, /v1/cluster ${Math.round(slowest.cluster)} ms`,
  );
});

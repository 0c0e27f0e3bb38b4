import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import { systemClock } from "../../src/common/clock.ts";
import { silentLogger } from "../../src/common/logger.ts";
import { discoveryProto } from "../../src/config/discovery-proto.ts";
import { DiscoveryStreamClient, type MeshSnapshot } from "../../src/sidecar/discovery/client.ts";
import { type ControlProc, FAST_FLAGS, leaderOf, makeCluster, until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { controlTokenEnv } from "../support/control-auth.ts";
import { controlCredentials } from "../support/control-grpc.ts";

const SERVICES = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
spec: {ports: [{port: 9080}]}
---
apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
    - destinations: [{service: reviews}]
      timeout: 2s
`;

interface TestSidecar {
  client: DiscoveryStreamClient;
  snapshots: MeshSnapshot[];
  last(): MeshSnapshot | undefined;
}

/** The cluster's admin token and mesh CA (the harness's), as `meshlet sidecar` takes them from the environment. */
function accessOptions(): { token?: string; caPem?: Buffer } {
  const { MESHLET_TOKEN: token, MESHLET_CA_FILE: ca } = controlTokenEnv();
  return { ...(token === undefined ? {} : { token }), ...(ca === undefined ? {} : { caPem: readFileSync(ca) }) };
}

/** A sidecar's discovery client in the test process, against real control-plane processes. */
function sidecar(
  controls: ControlProc[],
  id: string,
  options: { service?: string; subscribe?: string[]; register?: number; reject?: (s: MeshSnapshot) => boolean } = {},
): TestSidecar {
  const snapshots: MeshSnapshot[] = [];
  const client = new DiscoveryStreamClient({
    controls: controls.map((c) => c.grpc),
    nodeId: id,
    // The cluster's admin token (the harness's): these tests are about discovery, not about token roles.
    ...accessOptions(),
    service: options.service ?? "productpage",
    instance: id,
    subscribe: options.subscribe ?? ["*"],
    ...(options.register === undefined
      ? {}
      : { registration: { address: "127.0.0.1", port: 9, labels: {}, weight: 1, ttlSeconds: options.register } }),
    apply: (s) => {
      if (options.reject?.(s)) throw new Error("route table does not compile");
      snapshots.push(s);
    },
    clock: systemClock,
    logger: silentLogger(),
    backoff: { baseMs: 50, maxMs: 500 },
  });
  client.start();
  return { client, snapshots, last: () => snapshots.at(-1) };
}

async function json<T>(node: ControlProc, path: string): Promise<T> {
  const res = await fetch(`https://${node.http}${path}`, { signal: AbortSignal.timeout(5_000) });
  return (await res.json()) as T;
}

function writeTemp(text: string): { file: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "meshlet-apply-"));
  const file = join(dir, "mesh.yaml");
  writeFileSync(file, text);
  return { file, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test("single node: apply reaches a sidecar which ACKs; invalid apply changes nothing; NACK and lease expiry are visible", async (t) => {
  const c = await makeCluster(1);
  const node = c.nodes[0];
  assert.ok(node !== undefined);
  const cleanups: (() => void)[] = [];
  t.after(async () => {
    for (const f of cleanups) f();
    await c.stopAll();
  });
  c.start(node);
  await leaderOf([node]);
  const server = ["--server", `https://${node.http}`];

  const good = sidecar([node], "sc-good");
  const picky = sidecar([node], "sc-picky", { reject: (s) => s.resources.some((r) => r.kind === "Route") });
  cleanups.push(
    () => good.client.stop(),
    () => picky.client.stop(),
  );

  const input = writeTemp(SERVICES);
  cleanups.push(input.done);
  const applied = await runCli(["apply", "-f", input.file, ...server]);
  assert.equal(applied.code, 0, applied.stderr);
  assert.equal(applied.stdout, "service/reviews created\nroute/reviews created\n");

  const snapshot = await until("sidecar receives the route", async () =>
    good.last()?.resources.some((r) => r.kind === "Route") ? good.last() : undefined,
  );
  await until("ACK in /v1/sidecars", async () => {
    const { sidecars } = await json<{ sidecars: { id: string; lastAckedVersion: number }[] }>(node, "/v1/sidecars");
    return sidecars.find((s) => s.id === "sc-good" && s.lastAckedVersion === snapshot.version);
  });
  const nacked = await until("NACK in /v1/sidecars", async () => {
    const { sidecars } = await json<{ sidecars: { id: string; lastNack: { error: string } | null }[] }>(
      node,
      "/v1/sidecars",
    );
    return sidecars.find((s) => s.id === "sc-picky" && s.lastNack !== null);
  });
  assert.equal(nacked.lastNack?.error, "route table does not compile");

  const again = await runCli(["apply", "-f", input.file, ...server]);
  assert.equal(again.stdout, "service/reviews unchanged\nroute/reviews unchanged\n");

  const bad = writeTemp(
    `${SERVICES}---\napiVersion: meshlet.dev/v1\nkind: Route\nmetadata: {name: ratings}\nspec: {hosts: [ratings], http: [{destinations: [{service: ratings}], timeout: soon}]}\n`,
  );
  cleanups.push(bad.done);
  const before = await json<{ revision: number }>(node, "/v1/resources/routes");
  const rejected = await runCli(["apply", "-f", bad.file, ...server]);
  assert.equal(rejected.code, 1);
  assert.match(rejected.stderr, /mesh\.yaml:18:\d+ Route\/ratings spec\.http\[0\]\.timeout: expected a duration/);
  const posted = await fetch(`https://${node.http}/v1/apply`, {
    method: "POST",
    body: `${SERVICES}---\nkind: Widget\n`,
  });
  assert.equal(posted.status, 400);
  const after = await json<{ revision: number; items: unknown[] }>(node, "/v1/resources/routes");
  assert.equal(after.items.length, 1);
  assert.equal(after.revision, before.revision, "nothing was applied");

  // An instance registered once and never renewed (its sidecar died without deregistering) disappears
  // when its lease expires, and watchers get the push.
  const Client = discoveryProto().meshlet.discovery.v1.Discovery;
  const unary = new Client(node.grpc, controlCredentials(node.dataDir));
  cleanups.push(() => unary.close());
  // As a sidecar of ratings would: with a sidecar token bound to ratings.
  const { token } = (await (
    await fetch(`https://${node.http}/v1/tokens`, {
      method: "POST",
      body: JSON.stringify({ name: "ratings-sidecar", role: "sidecar", service: "ratings" }),
    })
  ).json()) as { token: string };
  const md = new Metadata();
  md.set("authorization", `Bearer ${token}`);
  await new Promise<void>((resolve, reject) =>
    unary.RegisterInstance(
      {
        endpoint: { service: "ratings", instance: "ratings-1", address: "127.0.0.1", port: 9, weight: 1 },
        ttlSeconds: 1,
      },
      md,
      (err) => (err ? reject(err) : resolve()),
    ),
  );
  const watcher = sidecar([node], "sc-watch", { subscribe: ["ratings"] });
  cleanups.push(() => watcher.client.stop());
  await until("endpoint pushed", async () =>
    watcher.last()?.endpoints.some((e) => e.instance === "ratings-1") ? true : undefined,
  );
  await until("lease expiry removed the endpoint", async () =>
    watcher.last()?.endpoints.some((e) => e.instance === "ratings-1") === false ? true : undefined,
  );
});

test("3 nodes: endpoints survive a leader kill -9; a sidecar of a killed follower fails over and gets the latest version", async (t) => {
  const c = await makeCluster(3, FAST_FLAGS);
  const cleanups: (() => void)[] = [];
  t.after(async () => {
    for (const f of cleanups) f();
    await c.stopAll();
  });
  for (const n of c.nodes) c.start(n);
  const leader = await leaderOf(c.nodes);
  const followers = c.nodes.filter((n) => n !== leader);
  const [f1, f2] = followers;
  assert.ok(f1 !== undefined && f2 !== undefined);

  // Registered through a follower: renewals must reach the leader without Raft entries.
  const instance = sidecar([f1, f2], "ratings-1", { service: "ratings", register: 2 });
  const watcher = sidecar([f1, f2, leader], "watcher", { subscribe: ["ratings", "reviews"] });
  cleanups.push(
    () => instance.client.stop(),
    () => watcher.client.stop(),
  );
  await until("endpoint registered", async () =>
    watcher.last()?.endpoints.some((e) => e.instance === "ratings-1") ? true : undefined,
  );
  type Listed = { sidecars: { id: string; node: string }[]; unreachable: string[] };
  // Asked of a node that holds neither stream: the list is the cluster's.
  const listed = await json<Listed>(f2, "/v1/sidecars");
  assert.deepEqual(
    listed.sidecars.map((s) => `${s.id}@${s.node}`),
    [`ratings-1@${f1.id}`, `watcher@${f1.id}`],
  );
  assert.deepEqual(listed.unreachable, []);

  await c.kill9(leader);
  await leaderOf(followers);
  const partial = await json<Listed>(f2, "/v1/sidecars");
  assert.deepEqual(partial.unreachable, [leader.id], "a node that cannot answer is named, not silently left out");
  assert.equal(partial.sidecars.length, 2);
  // Longer than the TTL: a new leader that forgot renewals, or expired leases at once, would drop it.
  await new Promise((r) => setTimeout(r, 4_000));
  const eps = await json<{ endpoints: { instance: string }[] }>(f2, "/v1/endpoints/ratings");
  assert.deepEqual(
    eps.endpoints.map((e) => e.instance),
    ["ratings-1"],
  );

  await until("watcher on f1", async () => (watcher.client.connectedTo === f1.grpc ? true : undefined));
  await c.kill9(f1);
  c.start(leader);
  // f1 may have been the new leader: the apply waits out the election (503 + Retry-After meanwhile).
  const revision = await until("apply accepted", async () => {
    const res = await fetch(`https://${f2.http}/v1/apply`, { method: "POST", body: SERVICES });
    return res.status === 200 ? ((await res.json()) as { revision: number }).revision : undefined;
  });
  await until(
    "watcher reconnected and at the latest version",
    async () => (watcher.client.connectedTo !== f1.grpc && watcher.client.version >= revision ? true : undefined),
    30_000,
  );
  const versions = watcher.snapshots.map((s) => s.version);
  assert.deepEqual(
    versions,
    [...versions].sort((a, b) => a - b),
    "versions never go backwards",
  );
});

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type Cluster, makeCluster, until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { type RunningSidecar, send, startSidecar } from "../sidecar/helpers.ts";
import { type FaultUpstream, startFaultUpstream } from "../sidecar/resilience/fault-upstream.ts";

const MESH = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
spec: {loadBalancer: {consistentHash: {header: x-user}}}
---
apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{destinations: [{service: reviews}], timeout: 2s}]
---
apiVersion: meshlet.dev/v1
kind: Policy
metadata: {name: reviews}
spec:
  target: {service: reviews}
  circuitBreaker: {errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeout: 60s}
`;

interface SidecarView {
  id: string;
  service: string;
  lastAckedVersion: number;
  status: { version?: string; breakers: { target: string; state: number }[] } | null;
}

/** Throws unless 200: "ready" means the node answers with the cluster's token, which it applies after it leads. */
async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

test("control plane + sidecars over the discovery stream: registration, routing, breaker status, deregistration, cached start", async (t) => {
  const cluster: Cluster = await makeCluster(1);
  const [node] = cluster.nodes;
  assert.ok(node);
  const sidecars: RunningSidecar[] = [];
  let app: FaultUpstream | undefined;
  const dir = await mkdtemp(join(tmpdir(), "meshlet-mesh-"));
  t.after(async () => {
    await Promise.all(sidecars.map((s) => s.stop()));
    await cluster.stopAll();
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });
  cluster.start(node, []);
  await until("control plane ready", () => getJson(`https://${node.http}/v1/cluster`).then((c) => c));

  const file = join(dir, "mesh.yaml");
  await writeFile(file, MESH);
  const applied = await runCli(["apply", "-f", file, "--server", `https://${node.http}`]);
  assert.equal(applied.code, 0, applied.stderr);

  app = await startFaultUpstream("reviews-app");
  const control = ["--control", node.grpc, "--log-level", "warn"];
  const reviews = await startSidecar(undefined, {
    service: "reviews",
    appPort: app.port,
    staticConfig: false,
    args: [...control, "--labels", "version=v1"],
  });
  sidecars.push(reviews);
  const webDir = join(dir, "web");
  const web = await startSidecar(undefined, { service: "web", staticConfig: false, dir: webDir, args: control });
  sidecars.push(web);

  const first = await until("a call from web reaches the reviews app through both sidecars", async () => {
    const r = await send(web.outbound, { headers: { host: "reviews", "x-user": "u1" } });
    return r.status === 200 ? r : undefined;
  });
  assert.match(first.body, /"upstream":"reviews-app"/);

  const eps = await getJson<{ endpoints: { port: number; labels: Record<string, string> }[] }>(
    `https://${node.http}/v1/endpoints/reviews`,
  );
  assert.deepEqual(
    eps.endpoints.map((e) => [e.port, e.labels.version]),
    [[reviews.inbound, "v1"]],
  );

  app.set({ errorRate: 1 });
  for (let i = 0; i < 12; i++) await send(web.outbound, { headers: { host: "reviews" } });
  const open = await send(web.outbound, { headers: { host: "reviews" } });
  assert.equal(open.headers["x-meshlet-flags"], "CB");
  const reported = await until("the open breaker is visible in /v1/sidecars", async () => {
    const { sidecars: views } = await getJson<{ sidecars: SidecarView[] }>(`https://${node.http}/v1/sidecars`);
    const view = views.find((v) => v.service === "web");
    return view?.status?.breakers.some((b) => b.target === "service/reviews" && b.state === 2) ? views : undefined;
  });
  assert.equal(reported.length, 2);
  assert.ok(reported.every((v) => v.lastAckedVersion > 0));

  await reviews.stop();
  sidecars.splice(sidecars.indexOf(reviews), 1);
  const gone = Date.now();
  await until(
    "the stopped instance is deregistered at once",
    async () => {
      const now = await getJson<{ endpoints: unknown[] }>(`https://${node.http}/v1/endpoints/reviews`);
      return now.endpoints.length === 0 ? true : undefined;
    },
    5_000,
  );
  assert.ok(Date.now() - gone < 5_000, "well before the lease would expire");

  const version = await until("web's sidecar has the snapshot without the instance", async () => {
    const view = await getJson<{ version: string; services: Record<string, { endpoints: unknown[] }> }>(
      `http://127.0.0.1:${web.admin}/endpoints`,
    );
    return view.services.reviews?.endpoints.length === 0 ? view.version : undefined;
  });
  await web.stop();
  sidecars.splice(sidecars.indexOf(web), 1);
  await cluster.stopAll();
  const cached = await startSidecar(undefined, { service: "web", staticConfig: false, dir: webDir, args: control });
  sidecars.push(cached);
  // Ready after its warm-up, which waits for a certificate that cannot come now: at most 2 s (docs/sidecar.md).
  const ready = await until("the cached sidecar is ready", async () => {
    const r = await fetch(`http://127.0.0.1:${cached.admin}/ready`);
    return r.status === 200 ? ((await r.json()) as { ready: boolean; stale: boolean; version: string }) : undefined;
  });
  // The log line is written before /ready turns 200, but it travels another pipe than the answer.
  await until("the capped warm-up is logged", async () =>
    /warm-up capped: ready anyway/.test(cached.logs()) ? true : undefined,
  );
  assert.deepEqual([ready.ready, ready.stale, ready.version], [true, true, version]);
  const routed = await send(cached.outbound, { headers: { host: "reviews" } });
  assert.equal(routed.headers["x-meshlet-flags"], "UH", "the cached route table is used (no endpoint left)");
});

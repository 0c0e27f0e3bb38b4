import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type Cluster, makeCluster, until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { type RunningSidecar, startSidecar } from "../sidecar/helpers.ts";

const MESH = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: ratings}
spec: {ports: [{port: 80}]}
`;

function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

const app = () => createServer((_req, res) => res.end("ok"));

test("a sidecar deregisters its app within 2 s of the app dying, and registers it again when it is back", async (t) => {
  const cluster: Cluster = await makeCluster(1);
  const [node] = cluster.nodes;
  assert.ok(node);
  const dir = await mkdtemp(join(tmpdir(), "meshlet-app-health-"));
  let sidecar: RunningSidecar | undefined;
  let server = app();
  t.after(async () => {
    await sidecar?.stop();
    server.close();
    await cluster.stopAll();
    await rm(dir, { recursive: true, force: true });
  });
  cluster.start(node, []);
  const file = join(dir, "mesh.yaml");
  await writeFile(file, MESH);
  await until("applied", async () => {
    const r = await runCli(["apply", "-f", file, "--server", `https://${node.http}`]);
    return r.code === 0 ? r : undefined;
  });
  const port = await listen(server);
  sidecar = await startSidecar(undefined, {
    service: "ratings",
    appPort: port,
    staticConfig: false,
    args: ["--control", node.grpc, "--log-level", "warn"],
  });
  const endpoints = async () => {
    const res = await fetch(`https://${node.http}/v1/endpoints/ratings`, { signal: AbortSignal.timeout(2_000) });
    return ((await res.json()) as { endpoints: unknown[] }).endpoints.length;
  };
  await until("registered", async () => ((await endpoints()) === 1 ? true : undefined));

  server.close();
  server.closeAllConnections();
  const killedAt = performance.now();
  await until("deregistered", async () => ((await endpoints()) === 0 ? true : undefined), 10_000);
  const out = performance.now() - killedAt;
  assert.ok(out < 2_000, `out of the mesh ${Math.round(out)} ms after the app died`);

  server = app();
  await listen(server, port);
  const backAt = performance.now();
  await until("registered again", async () => ((await endpoints()) === 1 ? true : undefined), 10_000);
  const back = performance.now() - backAt;
  assert.ok(back < 2_000, `back in the mesh ${Math.round(back)} ms after the app came back`);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { systemClock } from "../../src/common/clock.ts";
import { silentLogger } from "../../src/common/logger.ts";
import { createRegistry } from "../../src/common/metrics.ts";
import { discoveryProto } from "../../src/config/discovery-proto.ts";
import { parseResources } from "../../src/config/load.ts";
import type { Resource } from "../../src/config/resources.ts";
import { DiscoveryServer } from "../../src/controlplane/discovery/server.ts";
import { MemorySource } from "../controlplane/discovery/memory-source.ts";
import { until } from "../controlplane/harness.ts";
import { nameServer, type RunningSidecar, send, startSidecar, type Upstream } from "../sidecar/helpers.ts";

interface Ready {
  ready: boolean;
  stale: boolean;
  version: string;
  controlPlane?: { connected: boolean; since?: string };
  rejected: string[];
}

/**
 * A control plane of a newer version stands in here: a Discovery server over
 * an in-memory state into which a resource with a field this sidecar does not
 * know is written (a real control plane of this version would refuse it).
 */
test("a version-skewed resource is refused alone: its last good version runs, other services route, /ready stays 200", async (t) => {
  const web: Upstream = await nameServer("web-app");
  const ratingsApp: Upstream = await nameServer("ratings-app");
  const source = new MemorySource();
  const discovery = new DiscoveryServer(source, {
    clock: systemClock,
    logger: silentLogger(),
    registry: createRegistry({ processMetrics: false }),
    debounceMs: 10,
  });
  const server = new Server();
  server.addService(discoveryProto().meshlet.discovery.v1.Discovery.service, discovery.handlers());
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  let sidecar: RunningSidecar | undefined;
  let closed = false;
  t.after(async () => {
    await sidecar?.stop();
    if (!closed) {
      discovery.close();
      server.forceShutdown();
    }
    await Promise.all([web.close(), ratingsApp.close()]);
  });
  const service = (name: string, appPort: number) =>
    parseResources(
      `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {endpoints: [{address: 127.0.0.1, port: ${appPort}}]}\n`,
      "s.yaml",
    );
  await source.propose({
    type: "mesh.apply",
    resources: [...service("web", web.port), ...service("ratings", ratingsApp.port)],
  });

  sidecar = await startSidecar(undefined, {
    service: "client",
    staticConfig: false,
    args: ["--control", `127.0.0.1:${port}`, "--log-level", "error"],
  });
  const admin = `http://127.0.0.1:${sidecar.admin}`;
  const ready = async () => (await (await fetch(`${admin}/ready`)).json()) as Ready;
  const running = sidecar;
  const hit = (host: string) => send(running.outbound, { headers: { host } });
  await until("both services routed", async () => ((await hit("ratings")).status === 200 ? true : undefined));
  // This control plane issues no certificates: the sidecar is ready when its warm-up gives up waiting (2 s).
  await until("ready", async () => ((await fetch(`${admin}/ready`)).status === 200 ? true : undefined));

  // The newer control plane's ratings: the old sidecar cannot read `spec.mirror`, and a new service beside it.
  const newer = {
    ...service("ratings", 1)[0],
    spec: { ...(service("ratings", 1)[0] as Resource & { kind: "Service" }).spec, mirror: "shadow" },
  };
  await source.propose({
    type: "mesh.apply",
    resources: [newer as unknown as Resource, ...service("search", web.port)],
  });
  const nack = await until(
    "the NACK names the resource",
    async () => discovery.sidecars().find((s) => s.lastNack !== null)?.lastNack ?? undefined,
  );
  assert.equal(nack.error, "Service/ratings spec: unknown field(s): mirror");
  const r = await ready();
  assert.deepEqual([r.ready, r.rejected], [true, ["Service/ratings spec: unknown field(s): mirror"]]);
  assert.equal((await hit("ratings")).body, "ratings-app", "ratings keeps its last good version (port 1 would fail)");
  assert.equal((await hit("search")).body, "web-app", "the rest of the version is applied");
  assert.equal((await hit("web")).body, "web-app");
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  assert.match(metrics, /^meshlet_sidecar_config_rejected_resources 1$/m);
  assert.match(metrics, /^meshlet_sidecar_config_updates_total\{result="partial"\} 1$/m);

  // Fixed upstream: the next version is taken whole and ACKed, and the NACK is forgotten.
  await source.propose({ type: "mesh.apply", resources: service("ratings", ratingsApp.port) });
  await until("ACKed whole", async () =>
    discovery.sidecars().every((s) => s.lastNack === null && s.lastAckedVersion === source.kv.revision)
      ? true
      : undefined,
  );
  assert.deepEqual((await ready()).rejected, []);
  assert.match(await (await fetch(`${admin}/metrics`)).text(), /^meshlet_sidecar_config_rejected_resources 0$/m);

  // The control plane gone: still ready (readiness must not drop traffic), but stale, and since when.
  assert.equal((await ready()).stale, false);
  discovery.close();
  server.forceShutdown();
  closed = true;
  const stale = await until("stale", async () => {
    const now = await ready();
    return now.stale ? now : undefined;
  });
  assert.equal(stale.ready, true);
  assert.equal(stale.controlPlane?.connected, false);
  assert.ok(stale.controlPlane?.since !== undefined && Date.now() - Date.parse(stale.controlPlane.since) < 60_000);
  assert.equal((await fetch(`${admin}/ready`)).status, 200);
  assert.match(await (await fetch(`${admin}/metrics`)).text(), /^meshlet_sidecar_config_stale 1$/m);
  assert.equal((await hit("web")).body, "web-app", "and routes on what it has");
});

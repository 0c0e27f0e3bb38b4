import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { type ChannelCredentials, credentials, Server, ServerCredentials } from "@grpc/grpc-js";
import { systemClock } from "../../../src/common/clock.ts";
import { silentLogger } from "../../../src/common/logger.ts";
import { createRegistry } from "../../../src/common/metrics.ts";
import { sidecarsOf } from "../../../src/controlplane/discovery/attach.ts";
import { startDiscovery } from "../../../src/controlplane/discovery/start.ts";
import { resourcesApi } from "../../../src/controlplane/http/resources-api.ts";
import { Router } from "../../../src/controlplane/http/router.ts";
import { DiscoveryStreamClient } from "../../../src/sidecar/discovery/client.ts";
import { SingleNode } from "./single-node.ts";
import { until } from "./until.ts";

const ROUTE = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
---
apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: reviews}
spec: {hosts: [reviews], http: [{destinations: [{service: reviews}], timeout: 2s}]}
`;

describe("mesh on a control-plane node (HTTP API + Discovery + registry)", () => {
  const cleanups: (() => void | Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function boot() {
    const node = new SingleNode();
    const grpc = new Server();
    const runtime = startDiscovery(node, {
      addService: (s, impl) => grpc.addService(s, impl),
      logger: silentLogger(),
      registry: createRegistry({ processMetrics: false }),
      grpcAddressOf: () => undefined,
      members: () => [],
      debounceMs: 10,
    });
    const port = await new Promise<number>((resolve, reject) =>
      grpc.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    const router = new Router();
    resourcesApi()(router, node);
    const http = createServer((req, res) => void router.serve(req, res));
    http.listen(0, "127.0.0.1");
    await once(http, "listening");
    cleanups.push(() => {
      runtime.stop();
      grpc.forceShutdown();
      http.close();
    });
    return { node, grpcAddress: `127.0.0.1:${port}`, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
  }

  it("apply over HTTP reaches a sidecar, which ACKs; GET /v1/sidecars shows it", async () => {
    const { grpcAddress, url } = await boot();
    let version = 0;
    let routes: string[] = [];
    const client = new DiscoveryStreamClient({
      controls: [grpcAddress],
      nodeId: "sc-1",
      service: "productpage",
      instance: "p1",
      subscribe: ["reviews"],
      apply: (s) => {
        version = s.version;
        routes = s.resources.filter((r) => r.kind === "Route").map((r) => r.metadata.name);
      },
      clock: systemClock,
      logger: silentLogger(),
    });
    client.start();
    cleanups.push(() => client.stop());
    const res = await fetch(`${url}/v1/apply`, { method: "POST", body: ROUTE });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { revision: number; results: { action: string }[] };
    assert.deepEqual(
      body.results.map((r) => r.action),
      ["created", "created"],
    );
    await until("sidecar at the applied revision", () => version === body.revision);
    assert.deepEqual(routes, ["reviews"]);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const list = (await (await fetch(`${url}/v1/sidecars`)).json()) as {
        sidecars: { id: string; node: string; lastAckedVersion: number }[];
      };
      const me = list.sidecars.find((s) => s.id === "sc-1");
      if (me?.lastAckedVersion === body.revision) {
        assert.equal(me.node, "n1");
        break;
      }
      assert.ok(Date.now() < deadline, `no ACK in /v1/sidecars: ${JSON.stringify(list)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  });

  it("lease expiry removes an endpoint and pushes; a new leader extends leases before expiring any", async () => {
    const { node, grpcAddress, url } = await boot();
    let endpoints: string[] = [];
    const watcher = new DiscoveryStreamClient({
      controls: [grpcAddress],
      nodeId: "w",
      service: "productpage",
      instance: "w",
      subscribe: ["ratings"],
      apply: (s) => {
        endpoints = s.endpoints.map((e) => e.instance);
      },
      clock: systemClock,
      logger: silentLogger(),
    });
    watcher.start();
    cleanups.push(() => watcher.stop());
    // Register with a 1 s lease, then never heartbeat again: a sidecar that died without deregistering.
    await node.propose({
      type: "mesh.register",
      endpoint: {
        service: "ratings",
        instance: "r1",
        address: "127.0.0.1",
        port: 9,
        labels: {},
        weight: 1,
        leaseId: "ratings:r1",
      },
      ttlMs: 1000,
    });
    await until("endpoint pushed", () => endpoints.includes("r1"));
    node.setLeader(false);
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(endpoints.includes("r1"), "a follower expires nothing");
    const tookOver = Date.now();
    node.setLeader(true);
    await until("endpoint removed after expiry", () => !endpoints.includes("r1"));
    assert.ok(Date.now() - tookOver >= 900, "the new leader waited one full TTL");
    const eps = (await (await fetch(`${url}/v1/endpoints/ratings`)).json()) as { endpoints: unknown[] };
    assert.deepEqual(eps.endpoints, []);
  });

  it("asks another member for its sidecars with credentials for that member (which check its certificate names it)", async () => {
    const other = new SingleNode();
    const otherGrpc = new Server();
    const otherRuntime = startDiscovery(other, {
      addService: (s, impl) => otherGrpc.addService(s, impl),
      logger: silentLogger(),
      registry: createRegistry({ processMetrics: false }),
      grpcAddressOf: () => undefined,
      members: () => [],
    });
    const otherPort = await new Promise<number>((resolve, reject) =>
      otherGrpc.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    const dialled: string[] = [];
    const node = new SingleNode();
    const runtime = startDiscovery(node, {
      addService: () => {},
      logger: silentLogger(),
      registry: createRegistry({ processMetrics: false }),
      grpcAddressOf: () => undefined,
      members: () => [{ id: "n2", address: `127.0.0.1:${otherPort}` }],
      // Stands in for PeerAuth.credentials(nodeId), which refuses a certificate that does not name nodeId.
      peerCredentials: (nodeId: string): ChannelCredentials => {
        dialled.push(nodeId);
        return credentials.createInsecure();
      },
    });
    cleanups.push(() => {
      runtime.stop();
      otherRuntime.stop();
      otherGrpc.forceShutdown();
    });
    const answered = await sidecarsOf(node);
    assert.deepEqual(dialled, ["n2"]);
    assert.deepEqual(answered.unreachable, []);
  });
});

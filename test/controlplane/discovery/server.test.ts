import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ClientDuplexStream, credentials, Server, ServerCredentials, status } from "@grpc/grpc-js";
import { type Clock, systemClock } from "../../../src/common/clock.ts";
import { silentLogger } from "../../../src/common/logger.ts";
import { createRegistry } from "../../../src/common/metrics.ts";
import { discoveryProto } from "../../../src/config/discovery-proto.ts";
import { parseResources } from "../../../src/config/load.ts";
import { DiscoveryServer } from "../../../src/controlplane/discovery/server.ts";
import { leaseIdFor } from "../../../src/controlplane/registry/commands.ts";
import { LeaseKeeper } from "../../../src/controlplane/registry/lease-keeper.ts";
import type { DiscoveryClient } from "../../../src/gen/meshlet/discovery/v1/Discovery.ts";
import type { DiscoveryRequest } from "../../../src/gen/meshlet/discovery/v1/DiscoveryRequest.ts";
import type { DiscoveryResponse__Output } from "../../../src/gen/meshlet/discovery/v1/DiscoveryResponse.ts";
import type { Snapshot__Output } from "../../../src/gen/meshlet/discovery/v1/Snapshot.ts";
import { MemorySource } from "./memory-source.ts";

const svc = (name: string, port = 80) =>
  `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {ports: [{port: ${port}}]}\n`;

/** Collects snapshots from one stream and lets a test wait for a condition with a generous deadline. */
class TestSidecar {
  readonly snapshots: Snapshot__Output[] = [];
  readonly call: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse__Output>;
  error: { code?: number; details?: string } | undefined;
  #waiters: (() => void)[] = [];

  constructor(client: DiscoveryClient) {
    this.call = client.Stream();
    this.call.on("data", (res: DiscoveryResponse__Output) => {
      if (res.snapshot) this.snapshots.push(res.snapshot);
      this.#wake();
    });
    this.call.on("error", (err: { code?: number; details?: string }) => {
      this.error = err;
      this.#wake();
    });
  }

  send(req: DiscoveryRequest): void {
    this.call.write(req);
  }

  async until<T>(what: string, fn: () => T | undefined, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = fn();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}

describe("Discovery gRPC server", () => {
  /** The lease keeper's clock runs ahead by `skewMs`, so a test can look past a lease's deadline without waiting. */
  let skewMs = 0;
  const keeperClock: Clock = { ...systemClock, now: () => systemClock.now() + skewMs };
  const keeper = new LeaseKeeper(keeperClock);
  const source = new MemorySource(keeper);
  const discovery = new DiscoveryServer(source, {
    clock: systemClock,
    logger: silentLogger(),
    registry: createRegistry({ processMetrics: false }),
    debounceMs: 20,
    helloTimeoutMs: 500,
  });
  const server = new Server();
  let client: DiscoveryClient;
  const sidecars: TestSidecar[] = [];
  const open = () => {
    const s = new TestSidecar(client);
    sidecars.push(s);
    return s;
  };

  before(async () => {
    keeper.takeOver([]);
    server.addService(discoveryProto().meshlet.discovery.v1.Discovery.service, discovery.handlers());
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const Client = discoveryProto().meshlet.discovery.v1.Discovery;
    client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
    await source.propose({ type: "mesh.apply", resources: parseResources(svc("web"), "s") });
  });
  after(() => {
    for (const s of sidecars) s.call.cancel();
    client.close();
    discovery.close();
    server.forceShutdown();
  });

  it("pushes a snapshot on hello, pushes changes, and records ACKs", async () => {
    const sc = open();
    sc.send({ hello: { nodeId: "sc-a", service: "web", instance: "a", subscribe: ["reviews"] } });
    const first = await sc.until("first snapshot", () => sc.snapshots[0]);
    assert.deepEqual(
      first.resources.map((r) => `${r.kind}/${r.name}`),
      ["Service/web"],
    );
    sc.send({ ack: { version: first.version, nonce: first.nonce } });
    for (let i = 0; i < 5; i++) {
      await source.propose({ type: "mesh.apply", resources: parseResources(svc("reviews", 8000 + i), "s") });
    }
    const latest = await sc.until("the burst's last version", () =>
      sc.snapshots.find((s) => s.version === source.kv.revision),
    );
    assert.ok(sc.snapshots.length < 6, `coalesced, got ${sc.snapshots.length} snapshots`);
    const versions = sc.snapshots.map((s) => s.version);
    assert.deepEqual(
      versions,
      [...versions].sort((a, b) => a - b),
    );
    sc.send({ ack: { version: latest.version, nonce: latest.nonce } });
    await sc.until("ack recorded", () =>
      discovery.sidecars().find((v) => v.id === "sc-a" && v.lastAckedVersion === latest.version),
    );
  });

  it("records a NACK in sidecars() and does not resend that version", async () => {
    const sc = open();
    sc.send({ hello: { nodeId: "sc-n", service: "web", instance: "n", subscribe: ["*"] } });
    const first = await sc.until("snapshot", () => sc.snapshots[0]);
    sc.send({ nack: { version: first.version, nonce: first.nonce, error: "cannot compile route" } });
    const view = await sc.until("nack recorded", () =>
      discovery.sidecars().find((v) => v.id === "sc-n" && v.lastNack !== null),
    );
    assert.deepEqual(view.lastNack, { version: first.version, error: "cannot compile route" });
    sc.send({ status: { json: '{"breakers":{"reviews":"open"}}' } });
    sc.send({ status: { json: "not json" } });
    await sc.until("status recorded", () => discovery.sidecars().find((v) => v.id === "sc-n" && v.status !== null));
    assert.deepEqual(discovery.sidecars().find((v) => v.id === "sc-n")?.status, { breakers: { reviews: "open" } });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(sc.snapshots.length, 1);
  });

  it("registers over the stream, renews on heartbeat, and deregisters at once", async () => {
    const watcher = open();
    watcher.send({ hello: { nodeId: "w", service: "web", instance: "w", subscribe: ["ratings"] } });
    const sc = open();
    sc.send({ hello: { nodeId: "sc-r", service: "ratings", instance: "r1" } });
    sc.send({
      register: {
        endpoint: { service: "ratings", instance: "r1", address: "127.0.0.1", port: 9100, labels: { version: "v2" } },
        ttlSeconds: 15,
      },
    });
    const withEndpoint = await watcher.until("endpoint pushed", () =>
      watcher.snapshots.find((s) => s.endpoints.some((e) => e.instance === "r1")),
    );
    assert.deepEqual(withEndpoint.endpoints.find((e) => e.instance === "r1")?.labels, { version: "v2" });
    // 16 s on, the 15 s lease would be due; the heartbeat must push its deadline out again
    const lease = leaseIdFor("ratings", "r1");
    skewMs = 16_000;
    assert.ok(keeper.due().includes(lease), "the lease is due before the heartbeat");
    sc.send({ heartbeat: { service: "ratings", instance: "r1" } });
    await watcher.until("lease renewed", () => !keeper.due().includes(lease));
    skewMs = 0;
    sc.send({ deregister: { service: "ratings", instance: "r1" } });
    await watcher.until("endpoint removed", () => {
      const last = watcher.snapshots.at(-1);
      return (
        last !== undefined && last.version > withEndpoint.version && !last.endpoints.some((e) => e.instance === "r1")
      );
    });
    assert.equal(source.kv.get("mesh/leases/ratings:r1"), undefined);
  });

  it("rejects a hello with no identity, and a stream that never says hello", async () => {
    const anonymous = open();
    anonymous.send({ hello: { nodeId: "", service: "" } });
    const err = await anonymous.until("rejection", () => anonymous.error);
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.match(err.details ?? "", /node id and a service/);
    const silent = open();
    const timeout = await silent.until("hello timeout", () => silent.error);
    assert.equal(timeout.code, status.INVALID_ARGUMENT);
  });
});

describe("Discovery gauges", () => {
  it("count sidecars by where they stand with their latest push, and age the unanswered one", async (t) => {
    const source = new MemorySource();
    await source.propose({ type: "mesh.apply", resources: parseResources(svc("web"), "s") });
    const registry = createRegistry({ processMetrics: false });
    const discovery = new DiscoveryServer(source, {
      clock: systemClock,
      logger: silentLogger(),
      registry,
      debounceMs: 10,
    });
    const server = new Server();
    server.addService(discoveryProto().meshlet.discovery.v1.Discovery.service, discovery.handlers());
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const Client = discoveryProto().meshlet.discovery.v1.Discovery;
    const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
    const streams = ["acks", "nacks", "silent"].map((id) => {
      const sc = new TestSidecar(client);
      sc.send({ hello: { nodeId: id, service: "web", instance: id, subscribe: ["*"] } });
      return sc;
    });
    t.after(() => {
      for (const s of streams) s.call.cancel();
      client.close();
      discovery.close();
      server.forceShutdown();
    });
    const [acks, nacks, silent] = streams;
    assert.ok(acks && nacks && silent);
    const a = await acks.until("snapshot", () => acks.snapshots[0]);
    const n = await nacks.until("snapshot", () => nacks.snapshots[0]);
    await silent.until("snapshot", () => silent.snapshots[0]);
    acks.send({ ack: { version: a.version, nonce: a.nonce } });
    nacks.send({ nack: { version: n.version, nonce: n.nonce, error: "Policy/b spec.target: conflict" } });
    const gauge = async () => {
      const m = await registry.getSingleMetric("meshlet_discovery_sidecars")?.get();
      return Object.fromEntries((m?.values ?? []).map((v) => [v.labels.state, v.value]));
    };
    await acks.until(
      "acked and rejecting",
      () =>
        discovery.sidecars().every((s) => s.id === "silent" || s.lastAckedVersion > 0 || s.lastNack !== null) ||
        undefined,
    );
    assert.deepEqual(await gauge(), { acked: 1, pending: 1, rejecting: 1 });
    await new Promise((r) => setTimeout(r, 300));
    const age = (await registry.getSingleMetric("meshlet_discovery_oldest_unanswered_push_seconds")?.get())?.values[0]
      ?.value;
    assert.ok(age !== undefined && age >= 0.3 && age < 30, `age ${age}`);
    silent.send({ ack: { version: a.version, nonce: silent.snapshots[0]?.nonce ?? "" } });
    await silent.until("silent acked", () =>
      discovery.sidecars().find((s) => s.id === "silent" && s.lastAckedVersion > 0),
    );
    assert.deepEqual(await gauge(), { acked: 2, pending: 0, rejecting: 1 });
    assert.equal(
      (await registry.getSingleMetric("meshlet_discovery_oldest_unanswered_push_seconds")?.get())?.values[0]?.value,
      0,
    );
  });
});

describe("Registration address", () => {
  /** A server on `bind` with its own source and metrics; `registrationAddress` as meshlet control's flag. */
  const serve = async (t: { after(fn: () => void): void }, bind: string, registrationAddress?: "peer" | "any") => {
    const source = new MemorySource();
    const registry = createRegistry({ processMetrics: false });
    const discovery = new DiscoveryServer(source, {
      clock: systemClock,
      logger: silentLogger(),
      registry,
      debounceMs: 10,
      ...(registrationAddress === undefined ? {} : { registrationAddress }),
    });
    const server = new Server();
    server.addService(discoveryProto().meshlet.discovery.v1.Discovery.service, discovery.handlers());
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(bind, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const Client = discoveryProto().meshlet.discovery.v1.Discovery;
    const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
    const streams: TestSidecar[] = [];
    t.after(() => {
      for (const s of streams) s.call.cancel();
      client.close();
      discovery.close();
      server.forceShutdown();
    });
    const rejected = async () =>
      (await registry.getSingleMetric("meshlet_discovery_rejected_total")?.get())?.values.find(
        (v) => v.labels.reason === "address_not_caller",
      )?.value ?? 0;
    const registering = (address: string) => {
      const sc = new TestSidecar(client);
      streams.push(sc);
      sc.send({ hello: { nodeId: `sc-${address}`, service: "ratings", instance: "r1" } });
      sc.send({ register: { endpoint: { service: "ratings", instance: "r1", address, port: 9100 }, ttlSeconds: 15 } });
      return sc;
    };
    const registered = () => source.commands.filter((c) => c.type === "mesh.register");
    return { client, rejected, registering, registered };
  };

  it("refuses a stream registration of another address than the connection's, with a code, counted", async (t) => {
    const { rejected, registering, registered } = await serve(t, "127.0.0.1:0");
    const sc = registering("10.9.9.9");
    const err = await sc.until("refusal", () => sc.error);
    assert.equal(err.code, status.PERMISSION_DENIED);
    assert.match(err.details ?? "", /^ERR_ADDRESS_NOT_CALLER: .*"10\.9\.9\.9".*\(127\.0\.0\.1\)/);
    assert.deepEqual((err as { metadata?: { get(k: string): unknown[] } }).metadata?.get("x-meshlet-error-code"), [
      "ERR_ADDRESS_NOT_CALLER",
    ]);
    assert.equal(await rejected(), 1);
    assert.deepEqual(registered(), []);
    // A host name is refused too: resolving a name the caller chose would let it name any host.
    const named = registering("ratings.example");
    assert.equal((await named.until("refusal", () => named.error)).code, status.PERMISSION_DENIED);
    // Another spelling of the caller's own address is the same address.
    const mapped = registering("::ffff:127.0.0.1");
    await mapped.until("registered", () => registered().length === 1 || undefined);
    assert.equal(mapped.error, undefined);
  });

  it("refuses a unary RegisterInstance of another address", async (t) => {
    const { client, rejected, registered } = await serve(t, "127.0.0.1:0");
    const register = (address: string) =>
      new Promise<{ code?: number; details?: string } | null>((resolve) =>
        client.RegisterInstance(
          { endpoint: { service: "ratings", instance: "r2", address, port: 9, weight: 1 }, ttlSeconds: 1 },
          (err) => resolve(err),
        ),
      );
    const err = await register("192.0.2.1");
    assert.equal(err?.code, status.PERMISSION_DENIED);
    assert.match(err?.details ?? "", /ERR_ADDRESS_NOT_CALLER/);
    assert.equal(await rejected(), 1);
    assert.equal(await register("127.0.0.1"), null);
    assert.equal(registered().length, 1);
  });

  it("compares an IPv4 caller of a dual-stack listener (::ffff:127.0.0.1) as 127.0.0.1", async (t) => {
    const { registering, registered } = await serve(t, "[::]:0");
    const sc = registering("127.0.0.1");
    await sc.until("registered", () => registered().length === 1 || undefined);
    assert.equal(sc.error, undefined);
  });

  it("takes any address with --registration-address any", async (t) => {
    const { rejected, registering, registered } = await serve(t, "127.0.0.1:0", "any");
    const sc = registering("10.9.9.9");
    await sc.until("registered", () => registered().length === 1 || undefined);
    assert.equal(await rejected(), 0);
  });
});

describe("Endpoint namespace", () => {
  const ACCOUNTS = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: ratings}
spec: {serviceAccounts: [{namespace: prod, name: ratings}]}
---
apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: web}
`;
  const serve = async (t: { after(fn: () => void): void }) => {
    const source = new MemorySource();
    await source.propose({ type: "mesh.apply", resources: parseResources(ACCOUNTS, "s") });
    const registry = createRegistry({ processMetrics: false });
    const discovery = new DiscoveryServer(source, {
      clock: systemClock,
      logger: silentLogger(),
      registry,
      debounceMs: 10,
    });
    const server = new Server();
    server.addService(discoveryProto().meshlet.discovery.v1.Discovery.service, discovery.handlers());
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const Client = discoveryProto().meshlet.discovery.v1.Discovery;
    const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
    const streams: TestSidecar[] = [];
    t.after(() => {
      for (const s of streams) s.call.cancel();
      client.close();
      discovery.close();
      server.forceShutdown();
    });
    const rejected = async () =>
      (await registry.getSingleMetric("meshlet_discovery_rejected_total")?.get())?.values.find(
        (v) => v.labels.reason === "wrong_namespace",
      )?.value ?? 0;
    /** A ratings sidecar with `account` (its hello's --namespace/--service-account), else a web one without. */
    const registering = (
      instance: string,
      claimed: string,
      account?: { namespace: string; serviceAccount: string },
    ) => {
      const sc = new TestSidecar(client);
      streams.push(sc);
      const service = account === undefined ? "web" : "ratings";
      sc.send({ hello: { nodeId: `sc-${instance}`, service, instance, ...account } });
      sc.send({
        register: {
          endpoint: { service, instance, address: "127.0.0.1", port: 9100, namespace: claimed },
          ttlSeconds: 15,
        },
      });
      return sc;
    };
    const stored = () =>
      source.commands.flatMap((c) => (c.type === "mesh.register" ? [[c.endpoint.instance, c.endpoint.namespace]] : []));
    return { client, rejected, registering, stored };
  };
  const prod = { namespace: "prod", serviceAccount: "ratings" };

  it("stamps the namespace of the stream's identity on what it registers, and sends it in snapshots", async (t) => {
    const { client, registering, stored } = await serve(t);
    const watcher = new TestSidecar(client);
    t.after(() => watcher.call.cancel());
    watcher.send({ hello: { nodeId: "w", service: "web", instance: "w", subscribe: ["*"] } });
    registering("r1", "", prod);
    const named = registering("r2", "prod", prod);
    const plain = registering("r3", "");
    await named.until("three registered", () => stored().length === 3 || undefined);
    assert.deepEqual(stored().sort(), [
      ["r1", "prod"],
      ["r2", "prod"],
      ["r3", undefined],
    ]);
    const snap = await watcher.until("endpoints pushed", () => watcher.snapshots.find((s) => s.endpoints.length === 3));
    assert.deepEqual(
      snap.endpoints.map((e) => [e.instance, e.namespace]),
      [
        ["r1", "prod"],
        ["r2", "prod"],
        ["r3", ""],
      ],
    );
    assert.equal(plain.error, undefined);
  });

  it("refuses a Register that names another namespace than its stream's identity, counted, storing nothing", async (t) => {
    const { rejected, registering, stored } = await serve(t);
    const other = registering("r1", "dev", prod);
    const err = await other.until("refusal", () => other.error);
    assert.equal(err.code, status.PERMISSION_DENIED);
    assert.match(err.details ?? "", /register names namespace "dev" but this stream's identity is in namespace "prod"/);
    // A stream with no account cannot choose one either.
    const none = registering("r2", "prod");
    const noneErr = await none.until("refusal", () => none.error);
    assert.match(noneErr.details ?? "", /names namespace "prod" but this stream's identity is in no namespace/);
    assert.equal(await rejected(), 2);
    assert.deepEqual(stored(), []);
  });

  it("refuses a unary RegisterInstance naming a namespace its credential does not carry", async (t) => {
    const { client, rejected, stored } = await serve(t);
    const register = (namespace: string) =>
      new Promise<{ code?: number; details?: string } | null>((resolve) =>
        client.RegisterInstance(
          {
            endpoint: { service: "web", instance: "u1", address: "127.0.0.1", port: 9, weight: 1, namespace },
            ttlSeconds: 1,
          },
          (err) => resolve(err),
        ),
      );
    const err = await register("prod");
    assert.equal(err?.code, status.PERMISSION_DENIED);
    assert.match(err?.details ?? "", /names namespace "prod" but the caller's credential is in no namespace/);
    assert.equal(await rejected(), 1);
    assert.equal(await register(""), null);
    assert.deepEqual(stored(), [["u1", undefined]]);
  });
});

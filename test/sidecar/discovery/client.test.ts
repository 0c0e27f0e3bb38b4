import assert from "node:assert/strict";
import * as net from "node:net";
import { networkInterfaces } from "node:os";
import { after, describe, it } from "node:test";
import { Metadata, Server, ServerCredentials, type ServerDuplexStream, status } from "@grpc/grpc-js";
import { pino } from "pino";
import { formatHostPort } from "../../../src/common/address.ts";
import { FakeClock, systemClock } from "../../../src/common/clock.ts";
import { silentLogger } from "../../../src/common/logger.ts";
import { createRegistry } from "../../../src/common/metrics.ts";
import { discoveryProto } from "../../../src/config/discovery-proto.ts";
import { formatFinding } from "../../../src/config/finding.ts";
import { parseResources } from "../../../src/config/load.ts";
import { DiscoveryServer } from "../../../src/controlplane/discovery/server.ts";
import { LeaseKeeper } from "../../../src/controlplane/registry/lease-keeper.ts";
import type { DiscoveryRequest__Output } from "../../../src/gen/meshlet/discovery/v1/DiscoveryRequest.ts";
import type { DiscoveryResponse } from "../../../src/gen/meshlet/discovery/v1/DiscoveryResponse.ts";
import type { Snapshot } from "../../../src/gen/meshlet/discovery/v1/Snapshot.ts";
import {
  type DecodedResource,
  DiscoveryStreamClient,
  decodeSnapshot,
  type MeshSnapshot,
} from "../../../src/sidecar/discovery/client.ts";
import { MemorySource } from "../../controlplane/discovery/memory-source.ts";
import { until } from "../../controlplane/discovery/until.ts";

const svc = (name: string, port = 80) =>
  parseResources(
    `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {ports: [{port: ${port}}]}\n`,
    "s",
  );

/** A Discovery server over `source`: several of them over one source stand in for the nodes of one cluster. */
async function startNode(source: MemorySource, port = 0, host = "127.0.0.1") {
  const discovery = new DiscoveryServer(source, {
    clock: systemClock,
    logger: silentLogger(),
    registry: createRegistry({ processMetrics: false }),
    debounceMs: 10,
  });
  const server = new Server();
  server.addService(discoveryProto().meshlet.discovery.v1.Discovery.service, discovery.handlers());
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(formatHostPort({ host, port }), ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    discovery,
    address: formatHostPort({ host, port: bound }),
    kill() {
      discovery.close();
      server.forceShutdown();
    },
  };
}

/**
 * A TCP relay to `target` that can freeze: it then keeps its sockets open and
 * forwards nothing, as a SIGSTOPped process whose kernel still holds the
 * connection.
 */
async function freezableProxy(target: string) {
  const [host, port] = target.split(":");
  let frozen = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect(Number(port), host);
    sockets.add(down).add(up);
    down.on("data", (d) => frozen || up.write(d));
    up.on("data", (d) => frozen || down.write(d));
    const end = () => {
      down.destroy();
      up.destroy();
    };
    down.on("error", end).on("close", end);
    up.on("error", end).on("close", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    freeze() {
      frozen = true;
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/**
 * A TCP relay to `target` that holds back everything the node sends on each new connection for `delayMs`, as a
 * node busy with thousands of streams opening at once answers each one late.
 */
async function slowStartProxy(target: string, delayMs: number) {
  const [host, port] = target.split(":");
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((down) => {
    connections++;
    const up = net.connect(Number(port), host);
    sockets.add(down).add(up);
    const held: Buffer[] = [];
    let holding = true;
    setTimeout(() => {
      holding = false;
      for (const d of held.splice(0)) down.write(d);
    }, delayMs);
    down.on("data", (d) => up.write(d));
    up.on("data", (d) => (holding ? held.push(d) : down.write(d)));
    const end = () => {
      down.destroy();
      up.destroy();
    };
    down.on("error", end).on("close", end);
    up.on("error", end).on("close", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    connections: () => connections,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe("sidecar discovery client", () => {
  const cleanups: (() => void)[] = [];
  after(() => {
    for (const c of cleanups.reverse()) c();
  });

  it("applies and ACKs snapshots; a snapshot its apply rejects is NACKed and the config kept", async () => {
    const source = new MemorySource();
    await source.propose({ type: "mesh.apply", resources: svc("web") });
    const node = await startNode(source);
    cleanups.push(node.kill);
    const applied: MeshSnapshot[] = [];
    const client = new DiscoveryStreamClient({
      controls: [node.address],
      nodeId: "sc-1",
      service: "web",
      instance: "i1",
      subscribe: ["*"],
      apply: (s) => {
        if (s.resources.some((r) => r.metadata.name === "poison")) throw new Error("cannot build route table");
        applied.push(s);
      },
      clock: systemClock,
      logger: silentLogger(),
    });
    client.start();
    cleanups.push(() => client.stop());
    await until("first snapshot acked", () => node.discovery.sidecars().find((v) => v.lastAckedVersion === 1));
    assert.deepEqual(
      applied[0]?.resources.map((r) => r.metadata.name),
      ["web"],
    );
    await source.propose({ type: "mesh.apply", resources: svc("poison") });
    const view = await until("nack", () => node.discovery.sidecars().find((v) => v.lastNack !== null));
    assert.deepEqual(view.lastNack, { version: 2, error: "cannot build route table" });
    assert.equal(client.version, 1);
  });

  it("fails over to the next node when its node dies, and gets the latest version", async () => {
    const source = new MemorySource();
    await source.propose({ type: "mesh.apply", resources: svc("web") });
    const a = await startNode(source);
    const b = await startNode(source);
    cleanups.push(a.kill, b.kill);
    const versions: number[] = [];
    const client = new DiscoveryStreamClient({
      controls: [a.address, b.address],
      nodeId: "sc-2",
      service: "web",
      instance: "i2",
      subscribe: [],
      apply: (s) => versions.push(s.version),
      clock: systemClock,
      logger: silentLogger(),
      backoff: { baseMs: 20, maxMs: 200 },
    });
    client.start();
    cleanups.push(() => client.stop());
    await until("connected to a", () => client.connectedTo === a.address);
    a.kill();
    await source.propose({ type: "mesh.apply", resources: svc("web", 81) });
    await until("latest version via b", () => client.connectedTo === b.address && client.version === 2);
    assert.deepEqual(versions, [1, 2]);
  });

  it("is back within two capped backoffs of a node answering again after every node was down for seconds", async () => {
    const source = new MemorySource();
    await source.propose({ type: "mesh.apply", resources: svc("web") });
    const a = await startNode(source);
    const b = await startNode(source);
    cleanups.push(a.kill, b.kill);
    const client = new DiscoveryStreamClient({
      controls: [a.address, b.address],
      nodeId: "sc-back",
      service: "web",
      instance: "i-back",
      subscribe: [],
      apply: () => {},
      clock: systemClock,
      logger: silentLogger(),
      // Jitter near its top: every wait is ~the whole cap, so the bound below holds by construction.
      random: () => 0.95,
    });
    client.start();
    cleanups.push(() => client.stop());
    await until("connected", () => client.connectedTo !== undefined);
    a.kill();
    b.kill();
    // Long enough for an unbounded backoff (and grpc-js's own reconnect backoff) to grow past several seconds.
    await new Promise((r) => setTimeout(r, 5_000));
    assert.equal(client.connectedTo, undefined);
    const back = await startNode(source, Number(b.address.split(":")[1]));
    cleanups.push(back.kill);
    const t0 = performance.now();
    await until("reconnected", () => client.connectedTo === back.address, 5_000);
    const took = performance.now() - t0;
    // The backoff is capped at 1 s: at worst the wait under way, then the still-dead node a, then b (~0.95 s
    // each); an uncapped backoff after 5 s down waits 3 s and more.
    assert.ok(took < 2_500, `reconnected ${Math.round(took)} ms after the node came back`);
  });

  it("waits longer after each stream that timed out, so a node that answers slower than the timeout is reached", async () => {
    const source = new MemorySource();
    await source.propose({ type: "mesh.apply", resources: svc("web") });
    const node = await startNode(source);
    cleanups.push(node.kill);
    // Every stream's first answer comes after 700 ms: a fixed 400 ms timeout would give up on every one.
    const slow = await slowStartProxy(node.address, 700);
    cleanups.push(slow.close);
    const client = new DiscoveryStreamClient({
      controls: [slow.address],
      nodeId: "sc-slow",
      service: "web",
      instance: "i-slow",
      subscribe: [],
      apply: () => {},
      clock: systemClock,
      logger: silentLogger(),
      backoff: { baseMs: 10, maxMs: 20 },
      firstMessageTimeoutMs: 400,
    });
    client.start();
    cleanups.push(() => client.stop());
    // 400 ms times out; then 800 ms, past the 700 ms the node takes.
    await until(
      "connected through the slow node",
      () => client.connectedTo === slow.address && client.version === 1,
      10_000,
    );
    assert.equal(slow.connections(), 2, "one timed-out stream, then the one that got through");
  });

  it("leaves a frozen node within 5 s and gets a change applied meanwhile from another", async () => {
    const source = new MemorySource();
    await source.propose({ type: "mesh.apply", resources: svc("web") });
    const a = await startNode(source);
    const b = await startNode(source);
    cleanups.push(a.kill, b.kill);
    const frozen = await freezableProxy(a.address);
    cleanups.push(frozen.close);
    const client = new DiscoveryStreamClient({
      controls: [frozen.address, b.address],
      nodeId: "sc-frozen",
      service: "web",
      instance: "i-frozen",
      subscribe: [],
      apply: () => {},
      clock: systemClock,
      logger: silentLogger(),
    });
    client.start();
    cleanups.push(() => client.stop());
    await until("connected through the proxy", () => client.connectedTo === frozen.address && client.version === 1);
    const t0 = performance.now();
    frozen.freeze();
    await source.propose({ type: "mesh.apply", resources: svc("web", 81) });
    await until("moved to b with the change", () => client.connectedTo === b.address && client.version === 2, 8_000);
    const took = performance.now() - t0;
    assert.ok(took < 5_000, `left the frozen node after ${Math.round(took)} ms`);
  });

  it("says 'not reachable' for a node it never reached and 'stream lost' for one it was connected to", async () => {
    const source = new MemorySource();
    await source.propose({ type: "mesh.apply", resources: svc("web") });
    const a = await startNode(source);
    cleanups.push(a.kill);
    const lines: { control?: string; msg?: string }[] = [];
    const client = new DiscoveryStreamClient({
      controls: ["127.0.0.1:1", a.address],
      nodeId: "sc-log",
      service: "web",
      instance: "i-log",
      subscribe: [],
      apply: () => {},
      clock: systemClock,
      logger: pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line)) }),
      backoff: { baseMs: 20, maxMs: 200 },
    });
    client.start();
    cleanups.push(() => client.stop());
    await until("connected to a", () => client.connectedTo === a.address);
    a.kill();
    await until("a's loss logged", () => lines.some((l) => l.control === a.address));
    const about = (control: string) => [...new Set(lines.filter((l) => l.control === control).map((l) => l.msg))];
    assert.deepEqual(about("127.0.0.1:1"), ["control plane not reachable"]);
    assert.equal(about(a.address)[0], "discovery stream lost");
    // A stream came up in between: the next outage is a new one, said at warn again at once (not 30 s later).
    const lost = lines.findIndex((l) => l.msg === "discovery stream lost");
    await until("the never-reached node said again after the loss", () =>
      lines.slice(lost).some((l) => l.control === "127.0.0.1:1" && l.msg === "control plane not reachable"),
    );
  });

  /** A client of unreachable `controls` on a fake clock, its "not reachable" lines, and a way to its next try. */
  const unreachableClient = (controls: string[]) => {
    const clock = new FakeClock(1_000_000);
    /** `at`: the fake clock when the line was written. */
    const lines: {
      control?: string;
      msg?: string;
      level?: number;
      reason?: string;
      failedAttempts?: number;
      at: number;
    }[] = [];
    const client = new DiscoveryStreamClient({
      controls,
      nodeId: "sc-quiet",
      service: "web",
      instance: "i-quiet",
      subscribe: [],
      apply: () => {},
      clock,
      logger: pino(
        { level: "debug" },
        { write: (line: string) => lines.push({ ...JSON.parse(line), at: clock.now() }) },
      ),
      backoff: { baseMs: 5, maxMs: 20 },
    });
    client.start();
    cleanups.push(() => client.stop());
    const said = () => lines.filter((l) => l.msg === "control plane not reachable");
    return {
      said,
      first: () => until("the first attempt refused", () => said().length === 1),
      // The next retry waits on the fake clock: move it (past the longest backoff, short of the 3 s first-message
      // timeout, so one attempt per move), then wait for the real failure.
      retry: async (ms = 20) => {
        const before = said().length;
        clock.advance(ms);
        await until("the next attempt failed", () => said().length > before);
      },
    };
  };

  it("says each node that stays unreachable at warn once per 30 s, the retries in between at debug, with the attempts counted", async () => {
    const { said, first, retry } = unreachableClient(["127.0.0.1:1", "127.0.0.1:2"]);
    await first();
    for (let i = 0; i < 7; i++) await retry(20);
    for (let i = 0; i < 12; i++) await retry(2_900);
    const seen = said();
    const lastWarn = new Map<string | undefined, number>();
    const expected = seen.map((l) => {
      const last = lastWarn.get(l.control);
      const warn = last === undefined || l.at - last >= 30_000;
      if (warn) lastWarn.set(l.control, l.at);
      return [l.control, warn ? 40 : 20];
    });
    assert.deepEqual(
      seen.map((l) => [l.control, l.level]),
      expected,
    );
    assert.equal(seen.filter((l) => l.level === 40).length, 4, "each address at warn at first, and again 30 s on");
    assert.deepEqual(
      seen.map((l) => l.failedAttempts),
      seen.map((_, i) => i + 1),
    );
  });

  it("says a new reason for a node that stays unreachable at once, at warn", async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as net.AddressInfo).port;
    await new Promise((r) => blocker.close(r));
    const { said, first, retry } = unreachableClient([`127.0.0.1:${port}`]);
    await first();
    await retry();
    await retry();
    // Now something listens there that is no gRPC server: it ends every connection at once, another reason.
    const rude = net.createServer((socket) => socket.destroy());
    await new Promise<void>((r) => rude.listen(port, "127.0.0.1", r));
    cleanups.push(() => rude.close());
    for (let i = 0; i < 3; i++) await retry();
    const seen = said();
    const refused = seen[0]?.reason ?? "";
    assert.match(refused, /ECONNREFUSED/);
    const other = seen.findIndex((l) => l.reason !== refused);
    assert.ok(other >= 3, `a different reason once something listens: ${JSON.stringify(seen.map((l) => l.reason))}`);
    let last: { at: number; reason: string | undefined } | undefined;
    const expected = seen.map((l) => {
      const warn = last === undefined || last.reason !== l.reason || l.at - last.at >= 30_000;
      if (warn) last = { at: l.at, reason: l.reason };
      return warn ? 40 : 20;
    });
    assert.deepEqual(
      seen.map((l) => l.level),
      expected,
    );
    assert.equal(seen[other]?.level, 40, "the new reason said at warn");
    assert.deepEqual(
      seen.slice(1, 3).map((l) => l.level),
      [20, 20],
      "the same refusal repeated: debug",
    );
  });

  it("says the control plane refused its credentials, with the code and details, once per distinct refusal", async () => {
    let refusal = { code: status.UNAUTHENTICATED, details: "the bearer token was revoked" };
    let streams = 0;
    const server = new Server();
    server.addService(discoveryProto().meshlet.discovery.v1.Discovery.service, {
      Stream: (call: ServerDuplexStream<DiscoveryRequest__Output, DiscoveryResponse>) => {
        streams++;
        call.emit("error", { ...refusal, metadata: new Metadata() });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    cleanups.push(() => server.forceShutdown());
    const lines: { msg?: string; code?: string; details?: string; level?: number }[] = [];
    const token = "mlt_secret-token-value";
    const registry = createRegistry({ processMetrics: false });
    const counted = async (code: string) => {
      const text = await registry.getSingleMetricAsString("meshlet_sidecar_control_refused_total");
      return Number(
        text
          .split("\n")
          .find((l) => l.includes(`code="${code}"`))
          ?.split(" ")
          .pop() ?? 0,
      );
    };
    const raw: string[] = [];
    const client = new DiscoveryStreamClient({
      controls: [`127.0.0.1:${port}`],
      nodeId: "sc-refused",
      service: "web",
      instance: "i-refused",
      subscribe: [],
      apply: () => {},
      clock: systemClock,
      token,
      logger: pino(
        { level: "info" },
        {
          write: (line: string) => {
            raw.push(line);
            lines.push(JSON.parse(line));
          },
        },
      ),
      backoff: { baseMs: 5, maxMs: 20 },
      registry,
    });
    client.start();
    cleanups.push(() => client.stop());
    await until("retried several times", () => streams >= 4 || undefined);
    const refused = () => lines.filter((l) => (l.msg ?? "").startsWith("control plane refused this sidecar"));
    assert.equal(refused().length, 1, "logged once, not on every retry");
    assert.equal(refused()[0]?.code, "UNAUTHENTICATED");
    assert.equal(refused()[0]?.details, "the bearer token was revoked");
    assert.equal(refused()[0]?.level, 50);
    assert.equal(lines.filter((l) => l.msg === "control plane not reachable").length, 0);
    assert.ok((await counted("UNAUTHENTICATED")) >= 3, "every refusal is counted");

    refusal = { code: status.PERMISSION_DENIED, details: 'service account shop/x may not act as service "web"' };
    const seen = streams;
    await until("retried with the new refusal", () => streams >= seen + 3 || undefined);
    assert.equal(refused().length, 2, "a different refusal is logged once more");
    assert.equal(refused()[1]?.code, "PERMISSION_DENIED");
    assert.ok((await counted("PERMISSION_DENIED")) >= 2);
    assert.ok(!raw.join("").includes(token), "the token is never logged");
  });

  it("registers its instance, and deregisters at once on stop", async () => {
    const keeper = new LeaseKeeper(systemClock);
    keeper.takeOver([]);
    const source = new MemorySource(keeper);
    const node = await startNode(source);
    cleanups.push(node.kill);
    const client = new DiscoveryStreamClient({
      controls: [node.address],
      nodeId: "sc-3",
      service: "ratings",
      instance: "r1",
      subscribe: [],
      registration: { address: "127.0.0.1", port: 9100, labels: { version: "v1" }, weight: 1, ttlSeconds: 3 },
      apply: () => undefined,
      clock: systemClock,
      logger: silentLogger(),
    });
    client.start();
    await until("registered", () => source.kv.get("mesh/endpoints/ratings/r1"));
    // Heartbeats every TTL/3 = 1 s: 1.5 s after the grant, an unrenewed lease would be due in 1.5 s.
    await new Promise((r) => setTimeout(r, 1_500));
    assert.ok((keeper.nextDueInMs() ?? 0) > 2_000, `lease not renewed: due in ${keeper.nextDueInMs()} ms`);
    assert.equal(source.commands.length, 1, "renewals are not proposed");
    client.stop();
    await until("deregistered", () => source.kv.get("mesh/endpoints/ratings/r1") === undefined);
  });

  it("without an address, registers its connection's source address, once connected, on every stream", async (t) => {
    // An address of this host that is not 127.0.0.1, so the source address cannot pass for a loopback default.
    const all = Object.values(networkInterfaces()).flat();
    const local =
      all.find((i) => i !== undefined && i.family === "IPv4" && !i.internal)?.address ??
      all.find((i) => i?.address === "::1")?.address;
    if (local === undefined) return t.skip("no address of this host other than 127.0.0.1");
    const source = new MemorySource();
    const a = await startNode(source, 0, local);
    const b = await startNode(source, 0, local);
    cleanups.push(a.kill, b.kill);
    const client = new DiscoveryStreamClient({
      controls: [a.address, b.address],
      nodeId: "sc-src",
      service: "ratings",
      instance: "r-src",
      subscribe: [],
      registration: { port: 9100, labels: {}, weight: 1, ttlSeconds: 15 },
      apply: () => undefined,
      clock: systemClock,
      logger: silentLogger(),
      backoff: { baseMs: 20, maxMs: 200 },
    });
    client.start();
    cleanups.push(() => client.stop());
    const registered = () => source.commands.flatMap((c) => (c.type === "mesh.register" ? [c.endpoint.address] : []));
    await until("registered", () => registered().length === 1 || undefined);
    assert.deepEqual(registered(), [local]);
    await until("connected to a", () => client.connectedTo === a.address);
    a.kill();
    await until("registered again from b", () => registered().length === 2 || undefined);
    assert.deepEqual(registered(), [local, local]);
  });

  it("sends one ACK, after its delay, for the snapshots applied meanwhile; a NACK at once, replacing a pending ACK", async () => {
    const received: DiscoveryRequest__Output[] = [];
    let push: ((s: Snapshot) => void) | undefined;
    const server = new Server();
    server.addService(discoveryProto().meshlet.discovery.v1.Discovery.service, {
      Stream: (call: ServerDuplexStream<DiscoveryRequest__Output, DiscoveryResponse>) => {
        call.on("data", (req: DiscoveryRequest__Output) => received.push(req));
        push = (snapshot) => call.write({ snapshot });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    cleanups.push(() => server.forceShutdown());
    const web = JSON.stringify(svc("web")[0]);
    const snapshot = (version: number, nonce: string, json = web): Snapshot => ({
      version,
      nonce,
      resources: [{ kind: "Service", name: "web", revision: version, json }],
      endpoints: [],
    });
    const ackDelayMs = 200;
    const client = new DiscoveryStreamClient({
      controls: [`127.0.0.1:${port}`],
      nodeId: "sc-4",
      service: "web",
      instance: "i4",
      subscribe: [],
      apply: () => undefined,
      clock: systemClock,
      logger: silentLogger(),
      ackDelayMs,
    });
    client.start();
    cleanups.push(() => client.stop());
    const send = await until("stream open", () => push);
    const acks = () => received.flatMap((r) => (r.ack ? [r.ack] : []));
    send(snapshot(1, "a"));
    send(snapshot(2, "b"));
    await until("applied", () => client.version === 2);
    assert.deepEqual(acks(), [], "not before the delay");
    await until("ack", () => acks().length > 0);
    await new Promise((r) => setTimeout(r, ackDelayMs * 2));
    assert.deepEqual(acks(), [{ version: 2, nonce: "b" }]);

    send(snapshot(3, "c"));
    send(snapshot(4, "d", "{not json"));
    const nack = await until("nack", () => received.find((r) => r.nack)?.nack ?? undefined);
    assert.deepEqual({ version: nack.version, nonce: nack.nonce }, { version: 4, nonce: "d" });
    await new Promise((r) => setTimeout(r, ackDelayMs * 2));
    assert.deepEqual(
      acks(),
      [{ version: 2, nonce: "b" }],
      "the NACKed nonce is the node's latest; no ACK of 3 follows",
    );
    assert.equal(nack.error, "Service/web: not valid JSON");
    assert.equal(client.version, 4, "the rest of version 4 (nothing here) is applied; web keeps its last good version");

    // A node the sidecar moves to sends the version it runs: the refusal is repeated there, not ACKed.
    received.length = 0;
    send(snapshot(4, "e", "{not json"));
    const again = await until("nack again", () => received.find((r) => r.nack)?.nack ?? undefined);
    assert.deepEqual(
      { version: again.version, nonce: again.nonce, error: again.error },
      { version: 4, nonce: "e", error: nack.error },
    );
  });
});

describe("decodeSnapshot", () => {
  const wire = (json: string) => ({
    version: 3,
    nonce: "n",
    resources: [{ kind: "Route", name: "r", revision: 3, json }],
    endpoints: [],
  });

  it("leaves out a resource the sidecar cannot validate, naming it and the field, and keeps the others", () => {
    const refused = (json: string) => decodeSnapshot(wire(json)).rejected.map(formatFinding);
    assert.deepEqual(refused("{"), ["Route/r: not valid JSON"]);
    const bad = JSON.stringify({
      apiVersion: "meshlet.dev/v1",
      kind: "Route",
      metadata: { name: "r" },
      spec: { hosts: [] },
    });
    assert.match(refused(bad)[0] ?? "", /^Route\/r spec\.hosts: /);
    const newer = JSON.stringify({
      apiVersion: "meshlet.dev/v1",
      kind: "Route",
      metadata: { name: "r" },
      spec: { hosts: ["a"], http: [{ destinations: [{ service: "s" }] }], mirror: { service: "m" } },
    });
    assert.deepEqual(refused(newer), ["Route/r spec: unknown field(s): mirror"]);
    const other = JSON.stringify({ apiVersion: "meshlet.dev/v1", kind: "Service", metadata: { name: "r" } });
    assert.deepEqual(refused(other), ["Route/r: the JSON is Service/r"]);
    const both = decodeSnapshot({
      version: 4,
      nonce: "n",
      resources: [
        { kind: "Route", name: "r", revision: 3, json: "{" },
        {
          kind: "Service",
          name: "s",
          revision: 3,
          json: JSON.stringify({ apiVersion: "meshlet.dev/v1", kind: "Service", metadata: { name: "s" } }),
        },
      ],
      endpoints: [],
    });
    assert.deepEqual(
      both.resources.map((r) => r.metadata.name),
      ["s"],
    );
  });

  it("takes an unchanged resource from the previous snapshot, and validates a changed one", () => {
    const route = (host: string) =>
      JSON.stringify({
        apiVersion: "meshlet.dev/v1",
        kind: "Route",
        metadata: { name: "r" },
        spec: { hosts: [host], http: [{ destinations: [{ service: "s" }] }] },
      });
    const first = new Map<string, DecodedResource>();
    const a = decodeSnapshot(wire(route("a")), new Map(), first).resources[0];
    const second = new Map<string, DecodedResource>();
    assert.equal(decodeSnapshot(wire(route("a")), first, second).resources[0], a, "same JSON: the same object");
    assert.equal(second.get("Route/r")?.resource, a);
    const changed = decodeSnapshot(wire(route("b")), second).resources[0];
    assert.notEqual(changed, a);
    assert.deepEqual(changed?.kind === "Route" ? changed.spec.hosts : [], ["b"]);
    const third = new Map<string, DecodedResource>();
    assert.equal(decodeSnapshot(wire("{"), second, third).rejected.length, 1);
    assert.equal(third.size, 0, "a refused resource is not remembered as decoded");
  });
});

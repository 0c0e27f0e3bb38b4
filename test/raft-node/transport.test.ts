import assert from "node:assert/strict";
import { test } from "node:test";
import { credentials, Server, ServerCredentials } from "@grpc/grpc-js";
import { silentLogger } from "../../src/common/logger.ts";
import { createRegistry } from "../../src/common/metrics.ts";
import { type Message, MessageType } from "../../src/raft/types.ts";
import { raftProto, toPb } from "../../src/raft-node/raft-proto.ts";
import { ForwardError, GrpcTransport, type TransportSink } from "../../src/raft-node/transport.ts";

function msg(from: string, to: string, index: number, extra: Partial<Message> = {}): Message {
  return {
    type: MessageType.App,
    from,
    to,
    term: 1,
    logTerm: 1,
    index,
    entries: [{ term: 1, index: index + 1, type: "normal", data: new Uint8Array([index % 256]) }],
    commit: index,
    reject: false,
    rejectHint: 0,
    rejectHintTerm: 0,
    context: new Uint8Array(),
    ...extra,
  };
}

interface Recorder extends TransportSink {
  got: Message[];
  unreachables: string[];
  snaps: [string, boolean][];
}

function recorder(): Recorder {
  const r: Recorder = {
    got: [],
    unreachables: [],
    snaps: [],
    receive: (m) => r.got.push(m),
    unreachable: (id) => r.unreachables.push(id),
    snapshotDone: (id, ok) => r.snaps.push([id, ok]),
    forward: async () => {},
  };
  return r;
}

async function node(
  id: string,
  t: { after: (fn: () => void) => void },
  clusterId = "c1",
  senderOf?: (call: { getPeer(): string }) => string | undefined,
) {
  const sink = recorder();
  const registry = createRegistry({ processMetrics: false });
  const transport = new GrpcTransport({
    address: "",
    id,
    clusterId,
    sink,
    logger: silentLogger(),
    registry,
    snapshotChunkBytes: 1000,
    ...(senderOf === undefined ? {} : { senderOf }),
  });
  const server = new Server();
  transport.serve(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  t.after(() => {
    transport.close();
    server.forceShutdown();
  });
  return { sink, transport, registry, server, address: `127.0.0.1:${port}` };
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("messages arrive in order and intact; a dead peer does not hold back a live one", async (t) => {
  const a = await node("a", t);
  const b = await node("b", t);
  a.transport.setPeer("b", b.address);
  a.transport.setPeer("dead", "127.0.0.1:1");
  // Every other index: appends that do not continue one another, so none are merged.
  for (let i = 0; i < 500; i++) a.transport.send([msg("a", "dead", 2 * i), msg("a", "b", 2 * i)]);
  await until(() => b.sink.got.length === 500, "500 messages at b");
  assert.deepEqual(
    b.sink.got.map((m) => m.index),
    Array.from({ length: 500 }, (_, i) => 2 * i),
  );
  const m = b.sink.got[7];
  assert.equal(m?.type, MessageType.App);
  assert.deepEqual(m?.entries[0]?.data, new Uint8Array([14]));
  await until(() => a.sink.unreachables.includes("dead"), "dead reported unreachable");
  a.transport.send([msg("a", "nobody", 1)]);
  assert.ok(a.sink.unreachables.includes("nobody"));
});

test("a peer whose process dies is reported unreachable as its connection closes, with nothing more sent to it", async (t) => {
  const a = await node("a", t);
  const b = await node("b", t);
  a.transport.setPeer("b", b.address);
  a.transport.send([msg("a", "b", 0)]);
  await until(() => b.sink.got.length === 1, "an append at b");
  assert.deepEqual(a.sink.unreachables, []);
  // What the kernel does for a killed process: every connection it held is closed.
  b.server.forceShutdown();
  // Well under the 1 s election timeout: this report is what lets a follower stop waiting for a dead leader.
  await until(() => a.sink.unreachables.includes("b"), "b reported unreachable", 500);
});

test("appends queued together that continue one another arrive as one", async (t) => {
  const a = await node("a", t);
  const b = await node("b", t);
  a.transport.setPeer("b", b.address);
  a.transport.send([0, 1, 2, 3, 4].map((i) => msg("a", "b", i)));
  await until(() => b.sink.got.length > 0, "an append at b");
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(b.sink.got.length, 1);
  assert.deepEqual(
    b.sink.got[0]?.entries.map((e) => e.index),
    [1, 2, 3, 4, 5],
  );
  assert.equal(b.sink.got[0]?.commit, 4);
});

test("a snapshot travels in chunks and is reassembled", async (t) => {
  const a = await node("a", t);
  const b = await node("b", t);
  a.transport.setPeer("b", b.address);
  const data = new Uint8Array(12_345).map((_, i) => i % 251);
  a.transport.send([
    msg("a", "b", 0, {
      type: MessageType.Snap,
      entries: [],
      snapshot: { metadata: { index: 40, term: 2, confState: { voters: ["a", "b"], learners: ["c"] } }, data },
    }),
  ]);
  await until(() => a.sink.snaps.length === 1, "snapshot status");
  assert.deepEqual(a.sink.snaps, [["b", true]]);
  const got = b.sink.got[0];
  assert.equal(got?.type, MessageType.Snap);
  assert.deepEqual(got?.snapshot?.metadata, { index: 40, term: 2, confState: { voters: ["a", "b"], learners: ["c"] } });
  assert.deepEqual(got?.snapshot?.data, data);
});

test("messages from another cluster are refused", async (t) => {
  const a = await node("a", t, "other");
  const b = await node("b", t);
  a.transport.setPeer("b", b.address);
  a.transport.send([msg("a", "b", 1)]);
  const c = await node("c", t);
  c.transport.setPeer("b", b.address);
  c.transport.send([msg("c", "b", 2)]);
  await until(() => b.sink.got.length >= 1, "message from c");
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(
    b.sink.got.map((m) => m.from),
    ["c"],
  );
});

test("a forwarded proposal reaches the leader's sink; its refusal comes back as a typed error", async (t) => {
  const leader = await node("l", t);
  const follower = await node("f", t);
  follower.transport.setPeer("l", leader.address);
  const seen: string[] = [];
  leader.sink.forward = async (data, confChange) => {
    const text = new TextDecoder().decode(data);
    if (text === "refuse") throw new ForwardError("ERR_NOT_LEADER", "not the leader", "x");
    seen.push(`${text}:${confChange}`);
  };
  await follower.transport.forward("l", new TextEncoder().encode("cmd"), false, 5_000);
  assert.deepEqual(seen, ["cmd:false"]);
  await assert.rejects(
    follower.transport.forward("l", new TextEncoder().encode("refuse"), true, 5_000),
    (err: unknown) => {
      return err instanceof ForwardError && err.code === "ERR_NOT_LEADER" && err.leader === "x";
    },
  );
  await assert.rejects(follower.transport.forward("nobody", new Uint8Array(), false, 1_000), ForwardError);
});

test("a forward that fails after it was sent may have been proposed; a refusal or a call that never left was not", async (t) => {
  const leader = await node("l", t);
  const follower = await node("f", t);
  follower.transport.setPeer("l", leader.address);
  let accepted = 0;
  // The leader proposes it, then its answer is lost: here it never comes, so the call's deadline passes.
  leader.sink.forward = () => {
    accepted++;
    return new Promise(() => {});
  };
  const mayHave = (expected: boolean) => (err: unknown) =>
    err instanceof ForwardError && err.code === "ERR_NO_LEADER" && err.mayHaveProposed === expected;
  await assert.rejects(follower.transport.forward("l", new TextEncoder().encode("cmd"), false, 300), mayHave(true));
  assert.equal(accepted, 1);
  leader.sink.forward = async () => {
    throw new ForwardError("ERR_NOT_LEADER", "not the leader", "x");
  };
  await assert.rejects(follower.transport.forward("l", new Uint8Array(), false, 5_000), (err: unknown) => {
    return err instanceof ForwardError && err.code === "ERR_NOT_LEADER" && !err.mayHaveProposed;
  });
  // A peer nobody listens on: the call fails before it is sent.
  const gone = await node("g", t);
  gone.server.forceShutdown();
  follower.transport.setPeer("g", gone.address);
  await assert.rejects(follower.transport.forward("g", new Uint8Array(), false, 5_000), mayHave(false));
});

/** A peer stream to `address` opened by hand, for what GrpcTransport itself never sends. */
function rawStream(address: string, t: { after: (fn: () => void) => void }) {
  const Client = raftProto().meshlet.raft.v1.Raft;
  const client = new Client(address, credentials.createInsecure());
  t.after(() => client.close());
  const call = client.Stream(() => {});
  t.after(() => call.cancel());
  return call;
}

test("a peer stream gets its headers at once, so the sender does not keep what it wrote for a retry", async (t) => {
  const b = await node("b", t);
  const call = rawStream(b.address, t);
  const headers = new Promise<void>((resolve) => call.once("metadata", () => resolve()));
  call.write({ clusterId: "c1", fromAddress: "", messages: [] });
  // grpc-js frees a stream's written messages only once the call is committed, i.e. once headers arrive.
  await Promise.race([
    headers,
    new Promise((_, reject) => setTimeout(() => reject(new Error("no headers while the stream is open")), 5_000)),
  ]);
});

test("a message of a type this version does not know is dropped and counted; the stream and later messages go on", async (t) => {
  const b = await node("b", t);
  const call = rawStream(b.address, t);
  const known = toPb(msg("a", "b", 3));
  // A newer peer's enum value, which this version's types cannot name.
  const unknown = { ...known, type: 99 } as unknown as typeof known;
  call.write({ clusterId: "c1", fromAddress: "", messages: [unknown, known] });
  await until(() => b.sink.got.length === 1, "the known message");
  assert.equal(b.sink.got[0]?.index, 3);
  const counted = await b.registry.getSingleMetric("meshlet_raft_unknown_messages_total")?.get();
  assert.deepEqual(
    counted?.values.map((v) => [v.labels.type, v.value]),
    [["99", 1]],
  );
});

test("with authenticated peers, a message sent in another node's name is dropped and counted", async (t) => {
  // Every connection to b authenticated as node "a" (what PeerAuth tells from the node certificate).
  const b = await node("b", t, "c1", () => "a");
  const a = await node("a", t);
  const c = await node("c", t);
  a.transport.setPeer("b", b.address);
  c.transport.setPeer("b", b.address);
  c.transport.send([msg("c", "b", 1)]);
  a.transport.send([msg("a", "b", 2)]);
  await until(() => b.sink.got.length === 1, "a's message at b");
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(
    b.sink.got.map((m) => [m.from, m.index]),
    [["a", 2]],
  );
  const metrics = await b.registry.metrics();
  assert.match(metrics, /meshlet_raft_impersonated_messages_total 1/);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { credentials, Server, ServerCredentials, type ServiceError, status } from "@grpc/grpc-js";
import { configProto } from "../../../src/config/config-proto.ts";
import { configHandlers } from "../../../src/controlplane/config/grpc-watch.ts";
import { RevisionedKv } from "../../../src/controlplane/state/kv.ts";
import type { WatchResponse__Output } from "../../../src/gen/meshlet/config/v1/WatchResponse.ts";
import type { SingleNode } from "../discovery/single-node.ts";
import { configNode } from "./config-node.ts";

async function serve(t: { after: (fn: () => void) => void }, node: SingleNode) {
  const server = new Server();
  server.addService(configProto().meshlet.config.v1.Config.service, configHandlers(node));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const client = new (configProto().meshlet.config.v1.Config)(`127.0.0.1:${port}`, credentials.createInsecure());
  t.after(() => {
    client.close();
    server.forceShutdown();
  });
  return client;
}

const put = (node: SingleNode, key: string, value: string) =>
  node.propose({ type: "config.put", key, value: Buffer.from(value).toString("base64") });

test("gRPC Watch: started, then every change from the asked revision as events, the same as over HTTP", async (t) => {
  const node = configNode();
  const client = await serve(t, node);
  const r1 = await put(node, "app/a", "1");
  await put(node, "other/x", "no");
  const got: WatchResponse__Output[] = [];
  const call = client.Watch({ key: "app/", prefix: true, startRevision: r1.revision });
  call.on("data", (m: WatchResponse__Output) => got.push(m));
  call.on("error", () => {});
  t.after(() => call.cancel());
  const end = Date.now() + 5_000;
  while (got.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  const r3 = await put(node, "app/b", "3");
  await node.propose({ type: "config.delete", key: "app/a" });
  while (got.length < 4 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.equal(got[0]?.kind, "started");
  assert.equal(got[0]?.started?.revision, r1.revision - 1);
  const events = got.flatMap((m) => m.events?.events ?? []);
  assert.deepEqual(
    events.map((e) => [e.type, e.key, e.value.toString(), e.revision]),
    [
      ["PUT", "app/a", "1", r1.revision],
      ["PUT", "app/b", "3", r3.revision],
      ["DELETE", "app/a", "", r3.revision + 1],
    ],
  );
});

test("gRPC Watch refusals are statuses: OUT_OF_RANGE with the compacted revision, INVALID_ARGUMENT for the future", async (t) => {
  const node = configNode(new RevisionedKv(4));
  const client = await serve(t, node);
  for (let i = 0; i < 20; i++) await put(node, "k", `v${i}`);
  const refused = (req: { key: string; startRevision: number }) =>
    new Promise<{ err: ServiceError }>((resolve) => {
      const call = client.Watch(req);
      call.on("data", () => {});
      call.on("error", (err: ServiceError) => resolve({ err }));
    });
  const compacted = await refused({ key: "k", startRevision: 1 });
  assert.equal(compacted.err.code, status.OUT_OF_RANGE);
  assert.equal(compacted.err.metadata.get("x-meshlet-compacted-revision")[0], String(node.kv.compactedRevision));
  const future = await refused({ key: "k", startRevision: node.kv.revision + 5 });
  assert.equal(future.err.code, status.INVALID_ARGUMENT);
  assert.equal(future.err.metadata.get("x-meshlet-error-code")[0], "ERR_FUTURE_REVISION");
  const bad = await refused({ key: "no spaces", startRevision: 0 });
  assert.equal(bad.err.code, status.INVALID_ARGUMENT);
});

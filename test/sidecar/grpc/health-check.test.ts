import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type RunningSidecar, waitFor } from "../helpers.ts";
import { type EchoBackend, type EchoMesh, echoClient, NOT_SERVING, SERVING, startEchoMesh, unary } from "./fixture.ts";

// A client sidecar in front of three server sidecars, each before a grpc-js backend that serves grpc.health.v1.
// The client sidecar's Policy checks each endpoint with Health/Check over h2c (through the server sidecar to the
// app), and takes one out of the balancer while its backend says NOT_SERVING.
let mesh: EchoMesh;
let backends: EchoBackend[];
let client: RunningSidecar;

before(async () => {
  mesh = await startEchoMesh(() => [
    `apiVersion: meshlet.dev/v1
kind: Policy
metadata: {name: echo-health}
spec:
  target: {service: echo}
  healthCheck: {grpc: {service: meshlet.test.Echo}, interval: 100ms, timeout: 1s, healthyThreshold: 1, unhealthyThreshold: 2}
`,
  ]);
  ({ backends, client } = mesh);
});

after(() => mesh?.stop());

/** How many of `n` calls on one channel each backend answered. */
async function tally(n: number): Promise<Map<string, number>> {
  const c = echoClient(client.outbound, "echo");
  const seen = new Map<string, number>();
  try {
    for (let i = 0; i < n; i++) {
      const r = await unary(c, { text: "hi" });
      assert.equal(r.err, undefined, r.err?.message);
      const b = r.msg?.backend ?? "";
      seen.set(b, (seen.get(b) ?? 0) + 1);
    }
  } finally {
    c.close();
  }
  return seen;
}

/** Which backends answered `n` calls on one channel. */
async function spread(n: number): Promise<Set<string>> {
  return new Set((await tally(n)).keys());
}

const endpointHealth = async () => {
  const j = (await (await fetch(`http://127.0.0.1:${client.admin}/endpoints`)).json()) as unknown;
  return JSON.stringify(j);
};

test("an endpoint whose backend says NOT_SERVING leaves the balancer, and returns once it says SERVING", async () => {
  assert.deepEqual([...(await spread(6))].sort(), ["b0", "b1", "b2"]);

  backends[1]?.health.set("meshlet.test.Echo", NOT_SERVING);
  await waitFor("b1 out of the balancer", async () => ((await spread(6)).has("b1") ? undefined : true), 15_000);
  assert.deepEqual([...(await spread(10))].sort(), ["b0", "b2"]);
  assert.match(await endpointHealth(), /"healthy":false/);

  backends[1]?.health.set("meshlet.test.Echo", SERVING);
  await waitFor("b1 back", async () => ((await spread(6)).has("b1") ? true : undefined), 15_000);
});

test("a backend that stops answering the health service (NOT_FOUND for it) is unhealthy too", async () => {
  backends[0]?.health.delete("meshlet.test.Echo");
  try {
    await waitFor("b0 out of the balancer", async () => ((await spread(6)).has("b0") ? undefined : true), 15_000);
  } finally {
    backends[0]?.health.set("meshlet.test.Echo", SERVING);
  }
  await waitFor("b0 back", async () => ((await spread(6)).has("b0") ? true : undefined), 15_000);
});

test("an endpoint back after a failed health check gets its share at once, not a burst (round robin credit)", async () => {
  backends[2]?.health.set("meshlet.test.Echo", NOT_SERVING);
  await waitFor("b2 out of the balancer", async () => ((await spread(6)).has("b2") ? undefined : true), 15_000);
  // Calls while it is out: the two left share them.
  const during = await tally(90);
  assert.deepEqual([...during.keys()].sort(), ["b0", "b1"]);
  backends[2]?.health.set("meshlet.test.Echo", SERVING);
  await waitFor("b2 back", async () => ((await spread(3)).has("b2") ? true : undefined), 15_000);
  // From then on, one connection's calls spread within 10 % of even over the three.
  const n = 90;
  const after = await tally(n);
  for (const b of ["b0", "b1", "b2"]) {
    const k = after.get(b) ?? 0;
    assert.ok(Math.abs(k - n / 3) <= n / 30, `${b}: ${k} of ${n} (${JSON.stringify([...after])})`);
  }
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { until } from "../controlplane/harness.ts";
import { type RunningSidecar, send, startSidecar, startUpstream } from "../sidecar/helpers.ts";
import { startMeshNode } from "../support/mesh-node.ts";

// Issue 25, 5 (f): a sidecar says ready only once its first requests will find their connections open (and,
// with mTLS, its certificate there): no 504 UT / UR in the first 100 ms.

async function metric(admin: number, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** Polls `/ready` every 5 ms from the sidecar's start; resolves at the first 200 with the 503 reasons seen before. */
async function firstReady(admin: number): Promise<{ reasons: Set<string>; atMs: number }> {
  const start = Date.now();
  const reasons = new Set<string>();
  for (;;) {
    const r = await fetch(`http://127.0.0.1:${admin}/ready`).catch(() => undefined);
    if (r?.status === 200) return { reasons, atMs: Date.now() - start };
    if (r !== undefined) reasons.add(((await r.json()) as { reason: string }).reason);
    if (Date.now() - start > 10_000) throw new Error("never ready");
    await new Promise((res) => setTimeout(res, 5));
  }
}

test("a static-config sidecar opens a connection to each endpoint before /ready; a dead endpoint does not hold it back", async (t) => {
  let accepted = 0;
  const app = await startUpstream((_req, res) => res.end("ok"));
  app.server.on("connection", () => accepted++);
  const sidecars: RunningSidecar[] = [];
  t.after(async () => {
    await Promise.all(sidecars.map((s) => s.stop()));
    await app.close();
  });
  const config = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: up}
spec: {endpoints: [{address: 127.0.0.1, port: ${app.port}}, {address: 127.0.0.1, port: 1}]}
`;
  const sidecar = await startSidecar(config);
  sidecars.push(sidecar);
  const ready = await firstReady(sidecar.admin);
  assert.equal(accepted, 1, "one warm connection was open when /ready first said 200");
  assert.ok(ready.atMs < 2_500, `ready within the warm-up cap (${ready.atMs} ms)`);
  // The first request reuses the warm connection: no new connect.
  const r = await send(sidecar.outbound, { headers: { host: "up" }, path: "/" });
  assert.ok(r.status === 200 || r.status === 503, `answered ${r.status}`);
  if (r.status === 200) assert.equal(accepted, 1, "the first request went on the warm connection");
  assert.match(sidecar.logs(), /"warm-up done: ready"/);
});

test("with mTLS a sidecar is ready only with its certificate and an mTLS connection open to its peers", async (t) => {
  const mesh = await startMeshNode(t);
  const { node } = mesh;
  await mesh.apply("apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: reviews}\nspec: {}\n");
  const app = mesh.own(await startUpstream((req, res) => res.end(`app saw ${req.url}`)));
  const control = ["--control", node.grpc, "--log-level", "info"];
  const reviews = mesh.own(
    await startSidecar(undefined, { service: "reviews", appPort: app.port, staticConfig: false, args: control }),
  );
  await firstReady(reviews.admin);
  await until("reviews is registered", async () => {
    const r = await fetch(`https://${node.http}/v1/endpoints/reviews`).catch(() => undefined);
    const body = r?.ok === true ? ((await r.json()) as { endpoints?: unknown[] }) : undefined;
    return (body?.endpoints?.length ?? 0) >= 1 ? true : undefined;
  });
  const mtlsBefore = await metric(reviews.admin, "meshlet_inbound_connections_total", 'transport="mtls"');

  const web = mesh.own(await startSidecar(undefined, { service: "web", staticConfig: false, args: control }));
  const ready = await firstReady(web.admin);
  // At the first 200, before web sent any request: its certificate is there and a connection to reviews is open.
  assert.ok(
    (await metric(web.admin, "meshlet_sidecar_certificate_requests_total", 'result="issued"')) >= 1,
    "the certificate arrived before ready",
  );
  assert.ok(
    (await metric(reviews.admin, "meshlet_inbound_connections_total", 'transport="mtls"')) > mtlsBefore,
    `web opened an mTLS connection to reviews before it said ready\n${web.logs()}`,
  );
  assert.ok(ready.reasons.has("warming up") || ready.reasons.has("no config yet"), [...ready.reasons].join(","));
  // The first requests, sent at once: all answered by the app, none refused as plain text.
  const answers = await Promise.all(
    Array.from({ length: 10 }, (_, i) => send(web.outbound, { headers: { host: "reviews" }, path: `/first${i}` })),
  );
  assert.deepEqual(
    answers.map((a) => a.status),
    Array(10).fill(200),
  );
  assert.equal(await metric(reviews.admin, "meshlet_inbound_tls_refused_total", 'reason="plaintext"'), 0);
});

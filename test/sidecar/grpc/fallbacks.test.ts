import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";
import { status } from "@grpc/grpc-js";
import { type RunningSidecar, route, startSidecar } from "../helpers.ts";
import { type EchoBackend, echoClient, grpcService, startEchoBackend, unary } from "./fixture.ts";

function policy(name: string, spec: string): string {
  return `apiVersion: meshlet.dev/v1\nkind: Policy\nmetadata: {name: ${name}}\nspec:\n${spec}\n`;
}

/** Msg{text, backend} serialized by hand (protobuf: field 1 and 2, length-delimited), as a policy carries it. */
function msg(text: string, backend: string): string {
  const t = Buffer.from(text);
  const b = Buffer.from(backend);
  return Buffer.concat([Buffer.from([0x0a, t.length]), t, Buffer.from([0x12, b.length]), b]).toString("base64");
}

const CANNED = msg("canned", "fallback");

let backend: EchoBackend;
let sc: RunningSidecar;

before(async () => {
  backend = await startEchoBackend("b0");
  // Behind a server sidecar: a slow call times out at the client sidecar, whose fallback answers it.
  const server = await startSidecar(grpcService("slow", []), { service: "slow", appPort: backend.port });
  const fb = (name: string, grpc: string) =>
    policy(
      name,
      `  target: {service: ${name}}\n  fallback: {on: [noHealthyUpstream, timeout], static: {status: 503, body: plain, grpc: ${grpc}}}`,
    );
  sc = await startSidecar(
    [
      grpcService("closed", []),
      fb("closed", '{status: 5, message: "café closed"}'),
      grpcService("canned", []),
      fb("canned", `{status: 0, response: "${CANNED}"}`),
      grpcService("empty", []),
      fb("empty", '{status: 0, message: "nothing here"}'),
      grpcService("slow", [server.inbound]),
      route("slow", "    - destinations: [{service: slow}]\n      timeout: 200ms"),
      fb("slow", `{status: 0, response: "${CANNED}"}`),
    ].join("---\n"),
  );
  stopServer = () => server.stop();
});

let stopServer: () => Promise<unknown> = async () => undefined;

after(async () => {
  await sc?.stop();
  await stopServer();
  await backend?.close();
});

async function call(authority: string, n = 0) {
  const c = echoClient(sc.outbound, authority);
  try {
    return await unary(c, { text: "x", n });
  } finally {
    c.close();
  }
}

test("a static gRPC fallback with a failure status answers with that status and message", async () => {
  const r = await call("closed");
  assert.equal(r.err?.code, status.NOT_FOUND, r.err?.message);
  assert.equal(r.err?.details, "café closed");
  assert.equal(r.err?.metadata.get("x-meshlet-flags")[0], "UH,FB");
  assert.equal(r.err?.metadata.get("x-meshlet-fallback")[0], "static");
});

test("a static gRPC fallback with status 0 answers with its fixed message (OK)", async () => {
  const r = await call("canned");
  assert.equal(r.err, undefined, r.err?.message);
  assert.deepEqual({ text: r.msg?.text, backend: r.msg?.backend }, { text: "canned", backend: "fallback" });
  // Without a response: an empty message, still OK.
  const e = await call("empty");
  assert.equal(e.err, undefined, e.err?.message);
  assert.deepEqual({ text: e.msg?.text, backend: e.msg?.backend }, { text: "", backend: "" });
});

test("a call the route timed out gets the fixed message; a fast one the backend's answer", async () => {
  const slow = await call("slow", 2_000);
  assert.equal(slow.err, undefined, slow.err?.message);
  assert.equal(slow.msg?.text, "canned");
  const fast = await call("slow");
  assert.equal(fast.err, undefined, fast.err?.message);
  assert.equal(fast.msg?.backend, "b0");
});

test("an HTTP/1.1 request to the same Service gets the plain static answer, not the gRPC one", async () => {
  const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ port: sc.outbound, host: "127.0.0.1", path: "/", headers: { host: "canned" } }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
  assert.deepEqual(r, { status: 503, body: "plain" });
});

test("metrics carry the fallback's grpc_status (0 from its trailers, 5 from its head)", async () => {
  const text = await (await fetch(`http://127.0.0.1:${sc.admin}/metrics`)).text();
  assert.match(text, /meshlet_requests_total\{[^}]*service="canned"[^}]*grpc_status="0"/);
  assert.match(text, /meshlet_requests_total\{[^}]*service="closed"[^}]*grpc_status="5"/);
});

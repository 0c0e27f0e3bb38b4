import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { connect } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { status } from "@grpc/grpc-js";
import { freePort, type RunningSidecar, route, startSidecar } from "../helpers.ts";
import { type EchoBackend, echoClient, grpcService, startEchoBackend, unary } from "./fixture.ts";

function policy(name: string, spec: string): string {
  return `apiVersion: meshlet.dev/v1\nkind: Policy\nmetadata: {name: ${name}}\nspec:\n${spec}\n`;
}

let backend: EchoBackend;
let sc: RunningSidecar;
let dir: string;

before(async () => {
  backend = await startEchoBackend("b0");
  dir = await mkdtemp(join(tmpdir(), "meshlet-grpc-"));
  const closed = await freePort();
  sc = await startSidecar(
    [
      grpcService("echo", [backend.port]),
      grpcService("empty", []),
      grpcService("down", [closed]),
      grpcService("broken", [closed]),
      policy(
        "broken",
        "  target: {service: broken}\n  circuitBreaker: {errorThresholdPercentage: 50, volumeThreshold: 3, resetTimeout: 60s}",
      ),
      grpcService("limited", [backend.port]),
      policy("limited", "  target: {service: limited}\n  rateLimit: {requestsPerSecond: 1, burst: 1}"),
      grpcService("failing", [backend.port]),
      policy(
        "failing",
        "  target: {service: failing}\n  circuitBreaker: {errorThresholdPercentage: 50, volumeThreshold: 4, resetTimeout: 60s}",
      ),
      grpcService("half", [closed, backend.port]),
      route(
        "half",
        "    - destinations: [{service: half}]\n      retries: {attempts: 2, retryOn: [connect-failure, unavailable]}",
      ),
      grpcService("slow", [backend.port]),
      route("slow", "    - destinations: [{service: slow}]\n      timeout: 300ms"),
    ].join("---\n"),
    { args: ["--access-log", "all", "--access-log-file", join(dir, "access.log")], dir },
  );
});

after(async () => {
  await sc?.stop();
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

async function call(authority: string, req: { text: string; n?: number } = { text: "x" }) {
  const c = echoClient(sc.outbound, authority);
  try {
    return await unary(c, req);
  } finally {
    c.close();
  }
}

test("local replies to gRPC calls are gRPC statuses naming the flag", async () => {
  const cases: [string, number, string][] = [
    ["nowhere", status.UNAVAILABLE, "NR"],
    ["empty", status.UNAVAILABLE, "UH"],
    ["down", status.UNAVAILABLE, "UF"],
  ];
  for (const [authority, code, flag] of cases) {
    const r = await call(authority);
    assert.equal(r.err?.code, code, `${authority}: ${r.err?.message}`);
    assert.match(r.err?.details ?? "", new RegExp(`\\(${flag}\\)`), authority);
    assert.equal(r.err?.metadata.get("x-meshlet-flags")[0], flag);
  }
});

test("an open breaker is UNAVAILABLE (CB), a rate limit RESOURCE_EXHAUSTED (RL), a route timeout DEADLINE_EXCEEDED (UT)", async () => {
  let cb: Awaited<ReturnType<typeof call>> | undefined;
  for (let i = 0; i < 20 && cb?.err?.metadata.get("x-meshlet-flags")[0] !== "CB"; i++) cb = await call("broken");
  assert.equal(cb?.err?.code, status.UNAVAILABLE);
  assert.match(cb?.err?.details ?? "", /circuit breaker open.*\(CB\)/);

  const first = await call("limited");
  assert.equal(first.err, undefined, String(first.err?.message));
  const limited = await call("limited");
  assert.equal(limited.err?.code, status.RESOURCE_EXHAUSTED, limited.err?.message);
  assert.match(limited.err?.details ?? "", /\(RL\)/);

  const slow = await call("slow", { text: "x", n: 2_000 });
  assert.equal(slow.err?.code, status.DEADLINE_EXCEEDED, slow.err?.message);
  assert.match(slow.err?.details ?? "", /\(UT\)/);
});

/** One unary Echo call on a raw HTTP/2 stream: Msg{text: "x", n}, framed as gRPC (no client-side deadline). */
function rawUnary(port: number, authority: string, headers: Record<string, string>, n: number) {
  const msg = Buffer.from([0x0a, 0x01, 0x78, 0x20, ...varint(n)]);
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
  return new Promise<{ headers: Record<string, unknown>; trailers: Record<string, unknown>; ms: number }>(
    (resolve, reject) => {
      const started = Date.now();
      const s = connect(`http://127.0.0.1:${port}`);
      s.on("error", reject);
      const req = s.request({
        ":method": "POST",
        ":path": "/meshlet.test.Echo/Unary",
        ":authority": authority,
        "content-type": "application/grpc",
        te: "trailers",
        ...headers,
      });
      let head: Record<string, unknown> = {};
      let trailers: Record<string, unknown> = {};
      req.on("response", (h) => {
        head = h;
      });
      req.on("trailers", (t) => {
        trailers = t;
      });
      req.on("data", () => {});
      req.on("close", () => {
        s.close();
        resolve({ headers: head, trailers, ms: Date.now() - started });
      });
      req.end(frame);
    },
  );
}

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

test("grpc-timeout is the call's deadline: shorter than the upstream's delay gives DEADLINE_EXCEEDED (UT)", async () => {
  // A raw stream has no client-side deadline: the status can only come from the sidecar.
  const r = await rawUnary(sc.outbound, "echo", { "grpc-timeout": "300m" }, 3_000);
  assert.equal(r.headers[":status"], 200);
  assert.equal(r.headers["grpc-status"], String(status.DEADLINE_EXCEEDED));
  assert.equal(r.headers["x-meshlet-flags"], "UT");
  assert.ok(r.ms < 2_500, `answered after ${r.ms} ms`);
  // Without grpc-timeout the same call waits for the backend and succeeds.
  const ok = await rawUnary(sc.outbound, "echo", {}, 500);
  assert.equal(ok.trailers["grpc-status"], "0");
  // A grpc-js client's own deadline: DEADLINE_EXCEEDED either way.
  const c = echoClient(sc.outbound, "echo");
  try {
    const r2 = await unary(c, { text: "x", n: 3_000 }, { deadlineMs: 300 });
    assert.equal(r2.err?.code, status.DEADLINE_EXCEEDED);
  } finally {
    c.close();
  }
});

test("metrics and the access log carry grpc_status", async () => {
  const text = await (await fetch(`http://127.0.0.1:${sc.admin}/metrics`)).text();
  assert.match(text, /meshlet_requests_total\{[^}]*grpc_status="14"/);
  assert.match(text, /meshlet_requests_total\{[^}]*grpc_status="0"/);
  // The per-service figures the dashboard reads count a failed gRPC call (HTTP 200) as an error.
  assert.match(text, /meshlet_sidecar_requests_total\{[^}]*service="empty"[^}]*code="5xx"[^}]*flags="UH"/);
  assert.match(text, /meshlet_sidecar_requests_total\{[^}]*service="echo"[^}]*code="2xx"/);
  const log = await readFile(join(dir, "access.log"), "utf8");
  assert.match(log, /"grpc_status":"4"/);
  assert.match(log, /"grpc_status":"0"/);
});

test("the breaker counts gRPC failures (UNAVAILABLE from the backend) and opens (CB)", async () => {
  const flags: string[] = [];
  for (let i = 0; i < 12; i++) {
    const r = await call("failing", { text: "fail" });
    assert.equal(r.err?.code, status.UNAVAILABLE, r.err?.message);
    flags.push(String(r.err?.metadata.get("x-meshlet-flags")[0] ?? "-"));
  }
  assert.equal(flags[0], "-", "the first failures are the backend's own");
  assert.ok(flags.includes("CB"), `never opened: ${flags}`);
});

test("a gRPC call whose connection failed goes again (never sent); one the backend failed does not (sent)", async () => {
  for (let i = 0; i < 6; i++) {
    const r = await call("half");
    assert.equal(r.err, undefined, `call ${i}: ${r.err?.message}`);
  }
  const before = backend.calls;
  const failed = await call("half", { text: "fail" });
  const again = await call("half", { text: "fail" });
  assert.equal(failed.err?.code, status.UNAVAILABLE);
  assert.equal(again.err?.code, status.UNAVAILABLE);
  // Each reached the backend once: UNAVAILABLE is in retryOn, but the request was sent and its body not held.
  assert.equal(backend.calls - before, 2);
});

import assert from "node:assert/strict";
import { Agent, request } from "node:http";
import { after, before, describe, test } from "node:test";
import { nameServer, route, service, startSidecar, startUpstream, type Upstream } from "../sidecar/helpers.ts";

/**
 * Route faults through a real sidecar process (static config, real
 * upstream, real sockets): the percentages a client sees, a delay longer
 * than the route timeout, the FI flag in headers and metrics, and a sidecar
 * started with --no-faults.
 */

const agent = new Agent({ keepAlive: true, maxSockets: 32 });
after(() => agent.destroy());

interface Hit {
  status: number;
  flags: string;
  body: string;
  ms: number;
}

function hit(port: number, host: string, headers: Record<string, string> = {}, deadlineMs = 5_000): Promise<Hit> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", headers: { host, ...headers }, agent }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          flags: String(res.headers["x-meshlet-flags"] ?? ""),
          body,
          ms: performance.now() - t0,
        }),
      );
    });
    req.setTimeout(deadlineMs, () => req.destroy(new Error(`no answer within ${deadlineMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

async function many(port: number, host: string, n: number, headers: Record<string, string> = {}): Promise<Hit[]> {
  const out: Hit[] = [];
  const width = 16;
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        next++;
        out.push(await hit(port, host, headers));
      }
    }),
  );
  return out;
}

function assertBinomial(observed: number, n: number, p: number, what: string): void {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  assert.ok(
    Math.abs(observed - mean) <= 4 * sd,
    `${what}: ${observed} of ${n}, expected ${mean} ± ${(4 * sd).toFixed(0)}`,
  );
}

async function metrics(admin: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
}

function config(upstream: number, slow: number): string {
  return [
    service("slow", [{ port: slow }]),
    route(
      "slow",
      `    - destinations: [{service: slow}]
      timeout: 400ms
      fault: {delay: {fixed: 250ms, percent: 100}}`,
    ),
    service("ratings", [{ port: upstream }]),
    route(
      "ratings",
      `    - match: [{headers: {x-chaos: "slow"}}]
      destinations: [{service: ratings}]
      timeout: 200ms
      fault: {delay: {fixed: 5s, percent: 100}}
    - match: [{headers: {x-chaos: "on"}}]
      destinations: [{service: ratings}]
      timeout: 2s
      fault: {delay: {fixed: 1ms, percent: 10}, abort: {status: 503, percent: 5}}
    - destinations: [{service: ratings}]
      timeout: 2s`,
    ),
    service("reviews", [{ port: upstream }]),
    route(
      "reviews",
      `    - destinations: [{service: reviews}]
      timeout: 150ms
      fault: {delay: {fixed: 10s, percent: 100}}`,
    ),
    `apiVersion: meshlet.dev/v1
kind: Policy
metadata: {name: reviews}
spec:
  target: {service: reviews}
  fallback: {on: [timeout], static: {status: 200, body: '{"reviews":[]}'}}
`,
  ].join("---\n");
}

describe("route faults through a real sidecar", () => {
  let upstream: Upstream;
  let slow: Upstream;
  let sidecar: Awaited<ReturnType<typeof startSidecar>>;
  let refusing: Awaited<ReturnType<typeof startSidecar>>;

  before(async () => {
    upstream = await nameServer("ratings");
    // Answers after 250 ms: in time for a 400 ms route timeout, not for what a 250 ms delay leaves of it.
    slow = await startUpstream((req, res) => {
      req.resume();
      setTimeout(() => res.end("slow"), 250);
    });
    [sidecar, refusing] = await Promise.all([
      startSidecar(config(upstream.port, slow.port)),
      startSidecar(config(upstream.port, slow.port), { args: ["--no-faults"] }),
    ]);
  });
  after(async () => {
    await Promise.all([sidecar?.stop(), refusing?.stop()]);
    await upstream?.close();
    await slow?.close();
  });

  test("2,000 requests matching the rule's headers: about 10 % delayed, 5 % aborted 503 FI; others untouched", async () => {
    const hits = await many(sidecar.outbound, "ratings", 2_000, { "x-chaos": "on" });
    const aborted = hits.filter((h) => h.status === 503 && h.flags === "FI").length;
    const delayed = hits.filter((h) => h.status === 200 && h.flags === "FI").length;
    assert.equal(aborted + delayed + hits.filter((h) => h.status === 200 && h.flags === "").length, 2_000);
    assertBinomial(aborted, 2_000, 0.05, "aborted");
    // A request both delayed and aborted answers 503: delayed-only is 10 % × 95 %.
    assertBinomial(delayed, 2_000, 0.1 * 0.95, "delayed");
    const plain = await many(sidecar.outbound, "ratings", 200);
    assert.ok(
      plain.every((h) => h.status === 200 && h.flags === ""),
      "a request without the header meets no fault",
    );
    const m = await metrics(sidecar.admin);
    assert.match(
      m,
      /meshlet_sidecar_requests_total\{direction="outbound",service="ratings",code="5xx",flags="FI"\} \d+/,
    );
    assert.match(
      m,
      /meshlet_sidecar_requests_total\{direction="outbound",service="ratings",code="2xx",flags="FI"\} \d+/,
    );
    assert.match(
      m,
      /meshlet_sidecar_faults_injected_total\{direction="outbound",service="ratings",fault="abort"\} \d+/,
    );
  });

  test("a delay longer than the route timeout answers 504 UT,FI at the timeout, not after the delay", async () => {
    const h = await hit(sidecar.outbound, "ratings", { "x-chaos": "slow" });
    assert.equal(h.status, 504);
    assert.equal(h.flags, "UT,FI");
    assert.ok(h.ms >= 190 && h.ms < 1_500, `answered after ${h.ms.toFixed(0)} ms (timeout 200 ms, delay 5 s)`);
  });

  test("a shorter delay is taken from the route timeout: the upstream gets only the rest", async () => {
    const h = await hit(sidecar.outbound, "slow");
    assert.equal(h.status, 504);
    assert.equal(h.flags, "UT,FI");
    assert.ok(h.ms >= 390 && h.ms < 1_500, `answered after ${h.ms.toFixed(0)} ms (timeout 400 ms)`);
  });

  test("...and with a timeout fallback, the fallback answers (UT,FB,FI)", async () => {
    const h = await hit(sidecar.outbound, "reviews");
    assert.equal(h.status, 200);
    assert.equal(h.body, '{"reviews":[]}');
    assert.equal(h.flags, "UT,FB,FI");
    assert.ok(h.ms < 1_500, `answered after ${h.ms.toFixed(0)} ms`);
  });

  test("--no-faults: no fault applied, the refusal counted and logged once", async () => {
    const hits = [
      ...(await many(refusing.outbound, "ratings", 300, { "x-chaos": "on" })),
      await hit(refusing.outbound, "ratings", { "x-chaos": "slow" }),
      await hit(refusing.outbound, "reviews"),
    ];
    assert.ok(
      hits.every((h) => h.status === 200 && h.flags === "" && h.body === "ratings"),
      "every request forwarded untouched",
    );
    const m = await metrics(refusing.admin);
    assert.match(m, /meshlet_sidecar_faults_refused 4\b/);
    assert.equal(
      refusing
        .logs()
        .split("\n")
        .filter((l) => l.includes("faults refused")).length,
      1,
    );
  });
});

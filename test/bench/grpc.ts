/**
 * bench:grpc — unary gRPC calls through two sidecars (client sidecar -> server sidecar -> app, HTTP/2 all the
 * way) against the same calls made directly to the app, in one run, rounds alternating:
 *   - calls/s with 32 calls in flight on one grpc-js channel, and the CPU both sidecars spent per call;
 *   - p50/p99 latency at a fixed 1,000 calls/s;
 *   - the HTTP/2 client choice: node:http2 against undici's H2CClient, gRPC-framed POSTs to the same app.
 * The app runs in its own process; sidecars are started through the CLI. Medians of BENCH_ROUNDS rounds.
 *
 * Env: BENCH_SECONDS (one measurement, default 3), BENCH_ROUNDS (default 2).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { connect } from "node:http2";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { H2CClient } from "undici";
import { cpuMs } from "../helpers/proc.ts";
import { echoClient, grpcService, unary } from "../sidecar/grpc/fixture.ts";
import { startSidecar } from "../sidecar/helpers.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const INFLIGHT = 32;
const RATE = 1_000;
const FIXTURE = fileURLToPath(new URL("../sidecar/grpc/fixture.ts", import.meta.url));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? 0;

async function startApp(): Promise<{ port: number; proc: ChildProcess }> {
  const proc = spawn(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `import { startEchoBackend } from ${JSON.stringify(FIXTURE)}; const b = await startEchoBackend("app"); process.stdout.write(b.port + "\\n");`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const port = await new Promise<number>((resolve) =>
    proc.stdout?.once("data", (b: Buffer) => resolve(Number(String(b).trim()))),
  );
  return { port, proc };
}

// biome-ignore lint/suspicious/noExplicitAny: the generated client is untyped.
async function closedLoop(client: any, seconds: number): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let calls = 0;
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (performance.now() < end) {
        const r = await unary(client, { text: "bench" });
        if (r.err !== undefined) failures.set(r.err.details, (failures.get(r.err.details) ?? 0) + 1);
        else calls++;
      }
    }),
  );
  return calls;
}

// biome-ignore lint/suspicious/noExplicitAny: see closedLoop.
async function fixedRate(client: any, seconds: number): Promise<number[]> {
  const lat: number[] = [];
  const total = RATE * seconds;
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      unary(client, { text: "bench" }).then((r) => {
        if (r.err !== undefined) {
          failures.set(r.err.details, (failures.get(r.err.details) ?? 0) + 1);
          return;
        }
        // From the call's scheduled time: a late start (coordinated omission) counts against the path.
        lat.push(performance.now() - due);
      }),
    );
  }
  await Promise.all(pending);
  return lat;
}

const MSG = (() => {
  const m = Buffer.from([0x0a, 0x05, ...Buffer.from("bench")]);
  return Buffer.concat([Buffer.from([0, 0, 0, 0, m.length]), m]);
})();
const HEADERS = { "content-type": "application/grpc", te: "trailers" };

async function nodeH2(port: number, seconds: number): Promise<number> {
  const s = connect(`http://127.0.0.1:${port}`);
  const end = performance.now() + seconds * 1000;
  let calls = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = s.request({ ":method": "POST", ":path": "/meshlet.test.Echo/Unary", ...HEADERS });
      req.on("data", () => {});
      req.on("error", reject);
      req.on("close", () => resolve());
      req.end(MSG);
    });
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (performance.now() < end) {
        await one();
        calls++;
      }
    }),
  );
  s.close();
  return calls;
}

async function undiciH2(port: number, seconds: number): Promise<number> {
  const c = new H2CClient(`http://127.0.0.1:${port}`, { pipelining: INFLIGHT });
  const end = performance.now() + seconds * 1000;
  let calls = 0;
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (performance.now() < end) {
        const r = await c.request({ method: "POST", path: "/meshlet.test.Echo/Unary", headers: HEADERS, body: MSG });
        await r.body.arrayBuffer();
        calls++;
      }
    }),
  );
  await c.close();
  return calls;
}

/** Failed calls by message: reported, never hidden (a loaded machine may time connects out). */
const failures = new Map<string, number>();

const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  say(`bench:grpc — ${availableParallelism()} cores, Node ${process.version}, ${SECONDS}s x ${ROUNDS} rounds`);
  const app = await startApp();
  const server = await startSidecar(grpcService("echo", []), {
    service: "echo",
    appPort: app.port,
    args: ["--log-level", "warn"],
  });
  const client = await startSidecar(grpcService("echo", [server.inbound]), { args: ["--log-level", "warn"] });
  const pids = [client.proc.pid as number, server.proc.pid as number];
  const direct = echoClient(app.port, "echo");
  const mesh = echoClient(client.outbound, "echo");
  try {
    for (const c of [direct, mesh]) for (let i = 0; i < 200; i++) await unary(c, { text: "warm" });
    const rows = {
      direct: { rps: [] as number[], p50: [] as number[], p99: [] as number[] },
      mesh: { rps: [] as number[], p50: [] as number[], p99: [] as number[], cpu: [] as number[] },
    };
    const clients = { nodeH2: [] as number[], undici: [] as number[] };
    for (let r = 0; r < ROUNDS; r++) {
      rows.direct.rps.push((await closedLoop(direct, SECONDS)) / SECONDS);
      const cpu0 = pids.reduce((a, p) => a + cpuMs(p), 0);
      const calls = await closedLoop(mesh, SECONDS);
      const cpu1 = pids.reduce((a, p) => a + cpuMs(p), 0);
      rows.mesh.rps.push(calls / SECONDS);
      rows.mesh.cpu.push(((cpu1 - cpu0) * 1000) / calls);
      for (const [name, c] of [
        ["direct", direct],
        ["mesh", mesh],
      ] as const) {
        const lat = await fixedRate(c, SECONDS);
        rows[name].p50.push(pct(lat, 0.5));
        rows[name].p99.push(pct(lat, 0.99));
      }
      clients.nodeH2.push((await nodeH2(app.port, SECONDS)) / SECONDS);
      clients.undici.push((await undiciH2(app.port, SECONDS)) / SECONDS);
    }
    const f = (x: number) => x.toFixed(2);
    say(`unary calls/s, ${INFLIGHT} in flight on one channel:`);
    say(`  direct              ${median(rows.direct.rps).toFixed(0)}`);
    say(
      `  two sidecars        ${median(rows.mesh.rps).toFixed(0)}  (ratio ${f(median(rows.mesh.rps) / median(rows.direct.rps))})`,
    );
    say(`  sidecar CPU per call (both sidecars): ${median(rows.mesh.cpu).toFixed(0)} µs`);
    say(`latency at ${RATE} calls/s (ms):`);
    say(`  direct              p50 ${f(median(rows.direct.p50))}  p99 ${f(median(rows.direct.p99))}`);
    say(`  two sidecars        p50 ${f(median(rows.mesh.p50))}  p99 ${f(median(rows.mesh.p99))}`);
    say(
      `  added by the mesh   p50 ${f(median(rows.mesh.p50) - median(rows.direct.p50))}  p99 ${f(median(rows.mesh.p99) - median(rows.direct.p99))}`,
    );
    say(`failed calls: ${failures.size === 0 ? "none" : JSON.stringify([...failures])}`);
    say(`HTTP/2 client, gRPC-framed POSTs to the app, ${INFLIGHT} in flight (req/s):`);
    say(`  node:http2          ${median(clients.nodeH2).toFixed(0)}`);
    say(
      `  undici H2CClient    ${median(clients.undici).toFixed(0)}  (ratio ${f(median(clients.undici) / median(clients.nodeH2))})`,
    );
  } finally {
    direct.close();
    mesh.close();
    await client.stop();
    await server.stop();
    app.proc.kill();
  }
}

await main();

/**
 * bench:grpc — unary gRPC calls through two sidecars (client sidecar -> server sidecar -> app, HTTP/2 all the
 * way) against the same calls made directly to the app, in one run, rounds alternating which path goes first.
 * The load is h2load (Debian's nghttp2-client) posting a gRPC-framed Echo/Unary message on one connection:
 *   - calls/s at saturation (32 streams in flight), and the CPU both sidecars spent per call;
 *   - p50/p99 latency at a fixed 1,000 calls/s (h2load --rps, per-request log), and of one call at a time (the
 *     path's own latency, without queueing behind other calls);
 *   - the HTTP/2 client choice: node:http2 against undici's H2CClient, gRPC-framed POSTs to the same app.
 * Pinned the same way for both paths: the app and the sidecars on CPU 0, h2load and this process on CPU 1. So
 * "direct" is the app alone on a core and "two sidecars" is the app and both sidecars sharing it.
 * The app runs in its own process; sidecars are started through the CLI with the container image's
 * NODE_OPTIONS. Medians of BENCH_ROUNDS rounds.
 *
 * Env: BENCH_SECONDS (one measurement, default 3), BENCH_ROUNDS (default 3), BENCH_PROFILE=1 (run the sidecars
 * under node --cpu-prof, which adds its own cost, and print their self time by layer after the rounds).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:http2";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { H2CClient } from "undici";
import { cpuMs } from "../helpers/proc.ts";
import { echoClient, grpcService, unary } from "../sidecar/grpc/fixture.ts";
import { startSidecar } from "../sidecar/helpers.ts";
import { NODE_FLAGS } from "./node-flags.ts";
import { summaryTable } from "./profile-summary.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PROFILE = process.env.BENCH_PROFILE === "1";
const INFLIGHT = 32;
const RATE = 1_000;
const SERVER_CPU = "0";
const LOAD_CPU = "1";
const FIXTURE = fileURLToPath(new URL("../sidecar/grpc/fixture.ts", import.meta.url));
const PATH = "/meshlet.test.Echo/Unary";
/** The container image's NODE_OPTIONS (Dockerfile), as bench:proxy and bench:engine run the sidecars. */

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? 0;
const say = (line: string) => process.stdout.write(`${line}\n`);

/** Every thread of `pid` (libuv's pool too) on `cpu`. */
function pin(pid: number, cpu: string): void {
  execFileSync("taskset", ["-a", "-pc", cpu, String(pid)], { stdio: "ignore" });
}

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

/** Echo/Unary's request, Msg{text: "bench"}, as one length-prefixed gRPC message. */
const MSG = (() => {
  const m = Buffer.from([0x0a, 0x05, ...Buffer.from("bench")]);
  return Buffer.concat([Buffer.from([0, 0, 0, 0, m.length]), m]);
})();
const HEADERS = { "content-type": "application/grpc", te: "trailers" };

interface H2loadResult {
  rps: number;
  done: number;
  failed: number;
  /** Per-request latencies (µs) from h2load's log, for a fixed rate or one call at a time. */
  latencyUs: number[];
}

/**
 * One h2load run against `port` on one connection: `INFLIGHT` streams at saturation, or `rate` calls/s. HTTP
 * failures and errors are counted; a gRPC failure would come as a 200 with grpc-status in trailers, which
 * h2load does not read, so each path is checked with a real gRPC call around the runs (main).
 */
async function h2load(
  port: number,
  dir: string,
  msgFile: string,
  load: { rate?: number; sequential?: boolean } = {},
): Promise<H2loadResult> {
  const log = join(dir, `h2load-${port}-${Date.now()}.log`);
  const logged = load.rate !== undefined || load.sequential === true;
  const streams = load.sequential === true ? 1 : INFLIGHT;
  const args = ["-c", "1", "-m", String(streams), "-D", String(SECONDS), "-d", msgFile];
  args.push("-H", "content-type: application/grpc", "-H", "te: trailers", "-H", ":authority: echo");
  if (load.rate !== undefined) args.push("--rps", String(load.rate));
  if (logged) args.push("--log-file", log);
  args.push(`http://127.0.0.1:${port}${PATH}`);
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn("taskset", ["-c", LOAD_CPU, "h2load", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    p.stdout?.on("data", (c: Buffer) => {
      text += c.toString();
    });
    p.stderr?.on("data", (c: Buffer) => {
      text += c.toString();
    });
    p.once("error", reject);
    p.once("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`h2load exited ${code}:\n${text}`))));
  });
  const fin = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out);
  const req = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
  if (fin === null || req === null) throw new Error(`unexpected h2load output:\n${out}`);
  const latencyUs: number[] = [];
  if (logged) {
    for (const line of (await readFile(log, "utf8")).split("\n")) {
      const cols = line.split("\t");
      if (cols.length >= 3 && cols[1] === "200") latencyUs.push(Number(cols[2]));
    }
  }
  return {
    rps: Number(fin[1]),
    done: Number(req[1]),
    failed: Number(req[3]) + Number(req[4]),
    latencyUs,
  };
}

async function nodeH2(port: number, seconds: number): Promise<number> {
  const s = connect(`http://127.0.0.1:${port}`);
  const end = performance.now() + seconds * 1000;
  let calls = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = s.request({ ":method": "POST", ":path": PATH, ...HEADERS });
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
        const r = await c.request({ method: "POST", path: PATH, headers: HEADERS, body: MSG });
        await r.body.arrayBuffer();
        calls++;
      }
    }),
  );
  await c.close();
  return calls;
}

/** A real grpc-js call on each path: h2load cannot see a gRPC failure, so this proves the path answers. */
async function check(port: number, what: string): Promise<void> {
  const c = echoClient(port, "echo");
  try {
    const r = await unary(c, { text: "check" });
    if (r.err !== undefined || r.msg?.text !== "check") throw new Error(`${what}: ${r.err?.message ?? "bad answer"}`);
  } finally {
    c.close();
  }
}

async function main(): Promise<void> {
  say(`bench:grpc — ${availableParallelism()} cores, Node ${process.version}, ${h2loadVersion()}`);
  say(`${SECONDS}s x ${ROUNDS} rounds; app and sidecars on CPU ${SERVER_CPU}, h2load on CPU ${LOAD_CPU}`);
  pin(process.pid, LOAD_CPU);
  const dir = await mkdtemp(join(tmpdir(), "meshlet-bench-grpc-"));
  const msgFile = join(dir, "unary.bin");
  await writeFile(msgFile, MSG);
  const app = await startApp();
  const profileDirs = { client: join(dir, "prof-client"), server: join(dir, "prof-server") };
  const profEnv = (d: string) => ({
    NODE_OPTIONS: PROFILE ? `${NODE_FLAGS} --cpu-prof --cpu-prof-dir=${d}` : NODE_FLAGS,
  });
  const server = await startSidecar(grpcService("echo", []), {
    service: "echo",
    appPort: app.port,
    args: ["--log-level", "warn"],
    env: profEnv(profileDirs.server),
  });
  const client = await startSidecar(grpcService("echo", [server.inbound]), {
    args: ["--log-level", "warn"],
    env: profEnv(profileDirs.client),
  });
  const sidecars = [client.proc.pid as number, server.proc.pid as number];
  for (const pid of [app.proc.pid as number, ...sidecars]) pin(pid, SERVER_CPU);
  const paths = { direct: app.port, mesh: client.outbound };
  let stopped = false;
  try {
    await check(paths.direct, "direct");
    await check(paths.mesh, "two sidecars");
    // Warm-up: both paths' JIT tiers up (and the sidecars' sessions open) before the first measured round.
    for (const port of Object.values(paths)) await h2load(port, dir, msgFile);
    const loadFromUs = Number(process.hrtime.bigint() / 1000n);
    const rows = {
      direct: {
        rps: [] as number[],
        p50: [] as number[],
        p99: [] as number[],
        s50: [] as number[],
        s99: [] as number[],
      },
      mesh: {
        rps: [] as number[],
        p50: [] as number[],
        p99: [] as number[],
        s50: [] as number[],
        s99: [] as number[],
        cpu: [] as number[],
      },
    };
    const clients = { nodeH2: [] as number[], undici: [] as number[] };
    let failed = 0;
    for (let r = 0; r < ROUNDS; r++) {
      // Alternating order: a drift of this shared machine does not land on the same path each round.
      const order = r % 2 === 0 ? (["direct", "mesh"] as const) : (["mesh", "direct"] as const);
      for (const name of order) {
        const cpu0 = sidecars.reduce((a, p) => a + cpuMs(p), 0);
        const sat = await h2load(paths[name], dir, msgFile);
        const cpu1 = sidecars.reduce((a, p) => a + cpuMs(p), 0);
        failed += sat.failed;
        rows[name].rps.push(sat.rps);
        if (name === "mesh") rows.mesh.cpu.push(((cpu1 - cpu0) * 1000) / Math.max(1, sat.done));
      }
      for (const name of order) {
        const fixed = await h2load(paths[name], dir, msgFile, { rate: RATE });
        failed += fixed.failed;
        rows[name].p50.push(pct(fixed.latencyUs, 0.5) / 1000);
        rows[name].p99.push(pct(fixed.latencyUs, 0.99) / 1000);
      }
      for (const name of order) {
        const one = await h2load(paths[name], dir, msgFile, { sequential: true });
        failed += one.failed;
        rows[name].s50.push(pct(one.latencyUs, 0.5) / 1000);
        rows[name].s99.push(pct(one.latencyUs, 0.99) / 1000);
      }
      clients.nodeH2.push((await nodeH2(app.port, SECONDS)) / SECONDS);
      clients.undici.push((await undiciH2(app.port, SECONDS)) / SECONDS);
    }
    await check(paths.mesh, "two sidecars, after the runs");
    const f = (x: number) => x.toFixed(2);
    say(`unary calls/s at saturation, ${INFLIGHT} streams on one connection:`);
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
    say("latency of one call at a time (ms):");
    say(`  direct              p50 ${f(median(rows.direct.s50))}  p99 ${f(median(rows.direct.s99))}`);
    say(`  two sidecars        p50 ${f(median(rows.mesh.s50))}  p99 ${f(median(rows.mesh.s99))}`);
    say(
      `  added by the mesh   p50 ${f(median(rows.mesh.s50) - median(rows.direct.s50))}  p99 ${f(median(rows.mesh.s99) - median(rows.direct.s99))}`,
    );
    say(
      `per round: direct ${rows.direct.rps.map((x) => x.toFixed(0)).join(" ")}; mesh ${rows.mesh.rps.map((x) => x.toFixed(0)).join(" ")} calls/s; mesh p99 ${rows.mesh.p99.map(f).join(" ")} ms`,
    );
    say(`failed requests (h2load): ${failed}`);
    say(`HTTP/2 client, gRPC-framed POSTs to the app, ${INFLIGHT} in flight (req/s):`);
    say(`  node:http2          ${median(clients.nodeH2).toFixed(0)}`);
    say(
      `  undici H2CClient    ${median(clients.undici).toFixed(0)}  (ratio ${f(median(clients.undici) / median(clients.nodeH2))})`,
    );
    if (PROFILE) {
      // The profile is written when the process exits (SIGTERM, its drain, then the file).
      await client.stop();
      await server.stop();
      stopped = true;
      for (const [name, d] of Object.entries(profileDirs)) {
        const file = (await readdir(d).catch(() => [] as string[])).find((x) => x.endsWith(".cpuprofile"));
        say(`\nCPU profile of the ${name} sidecar (self time from the first measured round on, --cpu-prof on):\n`);
        say(file === undefined ? "no profile written" : await summaryTable(join(d, file), loadFromUs));
      }
    }
  } finally {
    if (!stopped) {
      await client.stop();
      await server.stop();
    }
    app.proc.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

function h2loadVersion(): string {
  try {
    return execFileSync("h2load", ["--version"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("h2load not found: install Debian's nghttp2-client (apt-get install nghttp2-client)");
  }
}

await main();

/**
 * bench:proxy — one run, loopback, keep-alive, 100-byte responses, side by side:
 * direct, nginx (one worker, upstream keep-alive), bare http-proxy, node:http
 * and undici forwarders, meshlet forward-only, meshlet with consistent hashing + breaker +
 * rate limit (non-binding) + outlier detection + metrics. The proxy runs on CPU 0; wrk, the paced client
 * and the upstream on CPU 1. Needs wrk, nginx and taskset (Debian: wrk, nginx-light, util-linux).
 *
 * Env: BENCH_SECONDS (one wrk run, default 5), BENCH_ROUNDS (wrk runs per path, median kept, default 3),
 * BENCH_PAIRS (paired 2 s forward-only / full-stack runs for their ratio, default 10),
 * BENCH_RATE_SECONDS (fixed-rate run, default 5).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { cpuMs, rssMb } from "../helpers/proc.ts";
import { policyAdmitCost } from "./admit-cost.ts";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PAIRS = Number(process.env.BENCH_PAIRS ?? 10);
const PAIR_SECONDS = 2;
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 5);
const CLIENT_WARMUP_RUNS = Math.ceil(15 / RATE_SECONDS);
const PROXY_CPU = "0";
const LOAD_CPU = "1";

const SIDECAR_NODE_OPTIONS = "--max-semi-space-size=8";
const UPSTREAM = 19_101;
const PORTS = {
  nginx: 19_102,
  httpProxy: 19_103,
  nodeHttp: 19_104,
  forward: 19_105,
  full: 19_106,
  undici: 19_107,
} as const;

interface Row {
  name: string;
  rps: number;
  cpuUsPerReq: number | undefined;
  rssMb: number | undefined;
  rssAt1kMb: number | undefined;
  /** Private memory at 1k req/s: RSS without the pages shared with other processes (the node binary's code). */
  privateAt1kMb: number | undefined;
  p50: number;
  p99: number;
  /** req/s of each wrk round, in order. */
  rounds: number[];
  /** p99 of each round at 1,000 req/s, in order. */
  p99Rounds: number[];
}

function pinned(cpu: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const child = spawn("taskset", ["-c", cpu, cmd, ...args], { stdio: ["ignore", "ignore", "pipe"], cwd: ROOT, env });
  child.stderr?.resume();
  return child;
}

async function privateMb(pid: number): Promise<number> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(rollup)?.[1] ?? 0);
  return (kb("Private_Clean") + kb("Private_Dirty")) / 1024;
}

function get(port: number, path = "/"): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { host: "bench" }, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", () => resolve(0));
    req.end();
  });
}

/** nginx serves from its worker, a child of the master process taskset started. */
async function nginxWorker(master: number | undefined): Promise<number | undefined> {
  if (master === undefined) return undefined;
  const children = await readFile(`/proc/${master}/task/${master}/children`, "utf8").catch(() => "");
  const first = children.trim().split(" ")[0];
  return first === undefined || first === "" ? master : Number(first);
}

async function waitUp(port: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if ((await get(port)) === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing answers 200 on ${port}`);
}

async function wrk(port: number, seconds = SECONDS): Promise<number> {
  const { stdout } = await run("taskset", [
    "-c",
    LOAD_CPU,
    "wrk",
    "-t1",
    "-c50",
    `-d${seconds}s`,
    "-H",
    "Host: bench",
    "-H",
    "x-user-id: 42",
    `http://127.0.0.1:${port}/`,
  ]);
  const m = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  if (m === null) throw new Error(`wrk output without Requests/sec:\n${stdout}`);
  return Number(m[1]);
}

/**
 * A paced client: 1,000 req/s over 10 keep-alive connections, latency of each request. The agent is
 * kept from the warm-up run, so the figures are steady state, not connection setup.
 */
async function fixedRate(port: number, agent: Agent): Promise<{ p50: number; p99: number }> {
  const latencies: number[] = [];
  const total = 1000 * RATE_SECONDS;
  const startedAt = performance.now();
  await new Promise<void>((resolve) => {
    let sent = 0;
    let done = 0;
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(performance.now() - startedAt));
      for (; sent < due; sent++) {
        const t0 = performance.now();
        const req = request(
          { host: "127.0.0.1", port, headers: { host: "bench", "x-user-id": "42" }, agent },
          (res) => {
            res.resume();
            res.on("end", () => {
              latencies.push(performance.now() - t0);
              if (++done === total) resolve();
            });
          },
        );
        req.on("error", () => {
          if (++done === total) resolve();
        });
        req.end();
      }
      if (sent === total) clearInterval(tick);
    }, 1);
  });
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99) };
}

interface Target {
  name: string;
  port: number;
  pid: number | undefined;
  agent: Agent;
  rssAt1kMb?: number;
  privateAt1kMb?: number;
  runs: { rps: number; cpuUsPerReq: number | undefined }[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

/**
 * Every path is measured in turn, ROUNDS times, and the median kept: this machine's speed drifts by tens of
 * percent within minutes, and side-by-side rounds keep that drift out of the ratios. RSS at 1,000 req/s is read
 * after a warm-up at that rate; latency at 1,000 req/s last (ROUNDS rounds, median kept), so that it is the
 * steady state and not V8 tiering code up: with a process pinned to one core, a TurboFan job takes that core
 * from the event loop for tens of milliseconds, once, some seconds into the first load.
 */
async function measureAll(targets: Target[]): Promise<Row[]> {
  for (const t of targets) {
    await waitUp(t.port);
    await fixedRate(t.port, t.agent);
    if (t.pid !== undefined) {
      t.rssAt1kMb = rssMb(t.pid);
      t.privateAt1kMb = await privateMb(t.pid);
    }
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of targets) {
      const before = t.pid === undefined ? 0 : cpuMs(t.pid);
      const rps = await wrk(t.port);
      const after = t.pid === undefined ? 0 : cpuMs(t.pid);
      t.runs.push({
        rps,
        cpuUsPerReq: t.pid === undefined ? undefined : ((after - before) * 1000) / (rps * SECONDS),
      });
    }
  }
  const rss = targets.map((t) => (t.pid === undefined ? undefined : rssMb(t.pid)));
  // Latency rounds go over all paths in turn too: one stall of this shared machine moves a single 5 s p99 by
  // milliseconds, and it should not land on one path only.
  const latency = targets.map(() => ({ p50: [] as number[], p99: [] as number[] }));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, t] of targets.entries()) {
      const { p50, p99 } = await fixedRate(t.port, t.agent);
      latency[i]?.p50.push(p50);
      latency[i]?.p99.push(p99);
    }
  }
  const rows: Row[] = [];
  for (const [i, t] of targets.entries()) {
    t.agent.destroy();
    const cpu = t.runs.map((r) => r.cpuUsPerReq).filter((c): c is number => c !== undefined);
    rows.push({
      name: t.name,
      rps: median(t.runs.map((r) => r.rps)),
      cpuUsPerReq: cpu.length === 0 ? undefined : median(cpu),
      rssMb: rss[i],
      rssAt1kMb: t.rssAt1kMb,
      privateAt1kMb: t.privateAt1kMb,
      p50: median(latency[i]?.p50 ?? []),
      p99: median(latency[i]?.p99 ?? []),
      p99Rounds: latency[i]?.p99 ?? [],
      rounds: t.runs.map((r) => r.rps),
    });
  }
  return rows;
}

function meshConfig(full: boolean): string {
  const lb = full ? "{consistentHash: {header: x-user-id, algorithm: maglev}}" : "{roundRobin: {}}";
  const svc = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: bench}
spec:
  loadBalancer: ${lb}
  endpoints: [{address: 127.0.0.1, port: ${UPSTREAM}}]
`;
  if (!full) return svc;
  return `${svc}---
apiVersion: meshlet.dev/v1
kind: Policy
metadata: {name: bench}
spec:
  target: {service: bench}
  circuitBreaker: {errorThresholdPercentage: 50, volumeThreshold: 20}
  rateLimit: {requestsPerSecond: 10000000, burst: 1000000}
  outlierDetection: {consecutiveErrors: 5}
`;
}

function nginxConfig(dir: string): string {
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  upstream up { server 127.0.0.1:${UPSTREAM}; keepalive 64; }
  server {
    listen 127.0.0.1:${PORTS.nginx};
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "meshlet-bench-"));
  const children: ChildProcess[] = [];
  const start = (cpu: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv) => {
    const c = pinned(cpu, cmd, args, env);
    children.push(c);
    return c;
  };
  try {
    start(LOAD_CPU, process.execPath, ["test/bench/proxy-upstream.ts", String(UPSTREAM)]);
    await writeFile(join(dir, "nginx.conf"), nginxConfig(dir));
    const nginx = start(PROXY_CPU, "nginx", [
      "-c",
      join(dir, "nginx.conf"),
      "-g",
      "daemon off;",
      "-e",
      join(dir, "error.log"),
    ]);
    const httpProxy = start(PROXY_CPU, process.execPath, [
      "test/bench/proxy-forwarders.ts",
      "http-proxy",
      String(PORTS.httpProxy),
      String(UPSTREAM),
    ]);
    const nodeHttp = start(PROXY_CPU, process.execPath, [
      "test/bench/proxy-forwarders.ts",
      "node-http",
      String(PORTS.nodeHttp),
      String(UPSTREAM),
    ]);
    const undici = start(PROXY_CPU, process.execPath, [
      "test/bench/proxy-forwarders.ts",
      "undici",
      String(PORTS.undici),
      String(UPSTREAM),
    ]);
    const sidecar = async (name: "forward" | "full", port: number) => {
      const cfg = join(dir, `${name}.yaml`);
      await writeFile(cfg, meshConfig(name === "full"));
      const admin = port + 100;
      return start(
        PROXY_CPU,
        process.execPath,
        [
          "bin/meshlet.js",
          "sidecar",
          "--service",
          "bench-client",
          "--app-port",
          String(UPSTREAM),
          "--outbound",
          `127.0.0.1:${port}`,
          "--inbound",
          `127.0.0.1:${port + 200}`,
          "--admin",
          `127.0.0.1:${admin}`,
          "--config",
          cfg,
          "--log-level",
          "warn",
        ],
        // As the container image runs it (Dockerfile).
        { ...process.env, NODE_OPTIONS: SIDECAR_NODE_OPTIONS },
      );
    };
    const forward = await sidecar("forward", PORTS.forward);
    const full = await sidecar("full", PORTS.full);

    // The paced client is this process: its own JIT tier-up stalls (about 10 s into its life) must be over
    // before the first row is measured.
    await waitUp(UPSTREAM);
    const warmAgent = new Agent({ keepAlive: true, maxSockets: 10 });
    for (let i = 0; i < CLIENT_WARMUP_RUNS; i++) await fixedRate(UPSTREAM, warmAgent);
    warmAgent.destroy();
    await waitUp(PORTS.nginx);
    const target = (name: string, port: number, pid: number | undefined): Target => ({
      name,
      port,
      pid,
      agent: new Agent({ keepAlive: true, maxSockets: 10 }),
      runs: [],
    });
    const rows = await measureAll([
      target("direct to upstream", UPSTREAM, undefined),
      target("nginx (1 worker, upstream keep-alive)", PORTS.nginx, await nginxWorker(nginx.pid)),
      target("bare http-proxy forwarder", PORTS.httpProxy, httpProxy.pid),
      target("bare node:http forwarder", PORTS.nodeHttp, nodeHttp.pid),
      target("bare undici forwarder (dispatch API)", PORTS.undici, undici.pid),
      target("meshlet sidecar, forward only", PORTS.forward, forward.pid),
      target("meshlet sidecar, maglev + breaker + rate limit + outlier detection + metrics", PORTS.full, full.pid),
    ]);

    // The policy stack's cost is a ratio of two paths that drift together: measure it in short paired rounds,
    // the two paths back to back, and keep the median of the per-pair ratios.
    const pairRatios: number[] = [];
    for (let i = 0; i < PAIRS; i++) {
      // Which path goes first alternates, so neither always runs on a warmer or cooler machine.
      const first = await wrk(i % 2 === 0 ? PORTS.forward : PORTS.full, PAIR_SECONDS);
      const second = await wrk(i % 2 === 0 ? PORTS.full : PORTS.forward, PAIR_SECONDS);
      pairRatios.push(i % 2 === 0 ? second / first : first / second);
    }
    const direct = rows[0] as Row;
    const nginxRow = rows[1] as Row;
    const undiciRow = rows[4] as Row;
    const fwd = rows[5] as Row;
    const fullRow = rows[6] as Row;
    const f = (n: number | undefined, d = 0) => (n === undefined ? "-" : n.toFixed(d));
    process.stdout.write(
      `bench:proxy — ${availableParallelism()} CPUs, Node ${process.version}, wrk -t1 -c50 -d${SECONDS}s, median of ${ROUNDS} rounds over all paths in turn; RSS at 1,000 req/s before and latency at 1,000 req/s after the wrk rounds (paced client, 10 keep-alive connections, ${RATE_SECONDS}s, median of ${ROUNDS} rounds over all paths in turn); proxy on CPU ${PROXY_CPU}, load + upstream on CPU ${LOAD_CPU}; meshlet sidecars with NODE_OPTIONS=${SIDECAR_NODE_OPTIONS} as in the container image, bare forwarders with Node's defaults\n\n`,
    );
    process.stdout.write(
      "| path | req/s (wrk -c50) | CPU µs/req | RSS at 1k req/s (MB) | private at 1k req/s (MB) | RSS after saturation (MB) | p50 ms @1k | p99 ms @1k |\n|---|---|---|---|---|---|---|---|\n",
    );
    for (const r of rows) {
      process.stdout.write(
        `| ${r.name} | ${f(r.rps)} | ${f(r.cpuUsPerReq, 1)} | ${f(r.rssAt1kMb)} | ${f(r.privateAt1kMb)} | ${f(r.rssMb)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} |\n`,
      );
    }
    process.stdout.write(
      `\nforward-only / nginx throughput: ${f((100 * fwd.rps) / nginxRow.rps)} %; forward-only / bare undici forwarder (the same HTTP stack, nothing else): ${f((100 * fwd.rps) / undiciRow.rps)} % of its throughput at ${f((fwd.cpuUsPerReq ?? 0) / (undiciRow.cpuUsPerReq ?? 1), 2)}× its CPU per request\nfull stack / forward-only throughput: ${f((100 * fullRow.rps) / fwd.rps)} % (medians of the rounds); paired rounds (${PAIRS} × ${PAIR_SECONDS} s each, median of full/forward): ${f(100 * median(pairRatios))} % (${pairRatios.map((r) => f(100 * r)).join(" / ")})\nadded latency at 1k req/s (full stack - direct): p50 ${f(fullRow.p50 - direct.p50, 2)} ms, p99 ${f(fullRow.p99 - direct.p99, 2)} ms; forward-only: p50 ${f(fwd.p50 - direct.p50, 2)} ms, p99 ${f(fwd.p99 - direct.p99, 2)} ms; nginx, for the machine's noise: p50 ${f(nginxRow.p50 - direct.p50, 2)} ms, p99 ${f(nginxRow.p99 - direct.p99, 2)} ms\nfull stack - forward-only at 1k req/s: p50 ${f(fullRow.p50 - fwd.p50, 2)} ms\nCPU per request, full stack / nginx: ${f((fullRow.cpuUsPerReq ?? 0) / (nginxRow.cpuUsPerReq ?? 1), 1)}×\n`,
    );
    process.stdout.write(
      `\nreq/s of each round:\n${rows.map((r) => `  ${r.name}: ${r.rounds.map((x) => f(x)).join(" / ")}`).join("\n")}\np99 ms at 1,000 req/s of each round:\n${rows.map((r) => `  ${r.name}: ${r.p99Rounds.map((x) => f(x, 2)).join(" / ")}`).join("\n")}\n`,
    );
    const admit = policyAdmitCost(2_000_000);
    process.stdout.write(
      `\nrate-limit check on an admitted request (measured in this process): ${(admit.cpuNs / 1000).toFixed(3)} µs CPU, ${(admit.wallNs / 1000).toFixed(3)} µs wall, never a wait\n`,
    );
  } finally {
    // SIGTERM first: a SIGKILLed nginx master leaves its worker holding the port for the next run.
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const hard = setTimeout(() => c.kill("SIGKILL"), 3_000);
            c.once("exit", () => {
              clearTimeout(hard);
              resolve();
            });
            c.kill("SIGTERM");
          }),
      ),
    );
    await rm(dir, { recursive: true, force: true });
  }
}

await main();

/**
 * bench:proxy — one run, loopback, keep-alive, 100-byte responses, side by side with nginx on the same
 * upstreams: the outbound hop, the inbound hop and the two-sidecar path (caller sidecar -> callee sidecar ->
 * app), forward-only and full stack, for meshlet's engine (the old node:http + undici path was deleted: its
 * last figures are text in docs/benchmarks.md). Proxies run on CPU 0; wrk, the paced client and the upstreams on CPU 1. Every Node
 * proxy runs with the same V8 flags (NODE_OPTIONS below). Needs wrk, nginx and taskset (Debian: wrk,
 * nginx-light, util-linux).
 *
 * Full stack, honest by construction: four endpoints (one of them answers 503 once in 200 requests, so the
 * breaker and outlier detection count real failures), Maglev on `x-user-id` with 1,000 different ids (wrk
 * script), a rate limit evaluated per id, breaker, outlier detection and metrics. nginx's full-stack row
 * does the same: `hash $http_x_user_id consistent` over the four and `limit_req` per id.
 *
 * Env: BENCH_SECONDS (one wrk run, default 5), BENCH_ROUNDS (rounds over all paths in turn, median kept,
 * default 3), BENCH_RATE_SECONDS (fixed-rate run, default 5).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { cpuMs, rssMb } from "../helpers/proc.ts";
import { NODE_FLAGS } from "./node-flags.ts";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 5);
const CLIENT_WARMUP_RUNS = Math.ceil(15 / RATE_SECONDS);
const PROXY_CPU = "0";
const LOAD_CPU = "1";
/** Every Node proxy runs with these V8 flags, as the container image runs it. */
const UPSTREAMS = [19_101, 19_102, 19_103, 19_104] as const;
const APP = UPSTREAMS[0];
/** One endpoint of the full stack fails once in this many requests. */
const FAIL_EVERY = 200;
const NGINX = { forward: 19_110, full: 19_111, twoHop: 19_112 } as const;

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

async function wrk(port: number, keyed: boolean, seconds = SECONDS): Promise<number> {
  const headers = keyed ? ["-s", "test/bench/proxy-keys.lua"] : ["-H", "Host: bench", "-H", "x-user-id: 42"];
  const { stdout } = await run(
    "taskset",
    ["-c", LOAD_CPU, "wrk", "-t1", "-c50", `-d${seconds}s`, ...headers, `http://127.0.0.1:${port}/`],
    { cwd: ROOT },
  );
  const m = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  if (m === null) throw new Error(`wrk output without Requests/sec:\n${stdout}`);
  return Number(m[1]);
}

/**
 * A paced client: 1,000 req/s over 10 keep-alive connections, latency of each request. The agent is
 * kept from the warm-up run, so the figures are steady state, not connection setup.
 */
async function fixedRate(port: number, agent: Agent, keyed = false): Promise<{ p50: number; p99: number }> {
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
          {
            host: "127.0.0.1",
            port,
            headers: { host: "bench", "x-user-id": keyed ? String(sent % 1000) : "42" },
            agent,
          },
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
  /** The proxy processes of the path (two for the two-sidecar path): CPU and memory are their sum. */
  pids: number[];
  agent: Agent;
  /** Varied x-user-id (full-stack paths). */
  keyed: boolean;
  rssAt1kMb?: number;
  privateAt1kMb?: number;
  runs: { rps: number; cpuUsPerReq: number | undefined }[];
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
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
    await fixedRate(t.port, t.agent, t.keyed);
    if (t.pids.length > 0) {
      t.rssAt1kMb = sum(t.pids.map(rssMb));
      t.privateAt1kMb = sum(await Promise.all(t.pids.map(privateMb)));
    }
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of targets) {
      const before = sum(t.pids.map(cpuMs));
      const rps = await wrk(t.port, t.keyed);
      const after = sum(t.pids.map(cpuMs));
      t.runs.push({
        rps,
        cpuUsPerReq: t.pids.length === 0 ? undefined : ((after - before) * 1000) / (rps * SECONDS),
      });
    }
  }
  const rss = targets.map((t) => (t.pids.length === 0 ? undefined : sum(t.pids.map(rssMb))));
  // Latency rounds go over all paths in turn too: one stall of this shared machine moves a single 5 s p99 by
  // milliseconds, and it should not land on one path only.
  const latency = targets.map(() => ({ p50: [] as number[], p99: [] as number[] }));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, t] of targets.entries()) {
      const { p50, p99 } = await fixedRate(t.port, t.agent, t.keyed);
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

function endpoints(ports: readonly number[]): string {
  return `[${ports.map((p) => `{address: 127.0.0.1, port: ${p}}`).join(", ")}]`;
}

/** Forward-only: one endpoint, round robin, no policy. Full: see the header comment. */
function meshConfig(kind: "forward" | "full" | "to-callee", calleePort = 0): string {
  const svc = (lb: string, eps: string) => `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: bench}
spec:
  loadBalancer: ${lb}
  endpoints: ${eps}
`;
  if (kind === "forward") return svc("{roundRobin: {}}", endpoints([APP]));
  if (kind === "to-callee") return svc("{roundRobin: {}}", endpoints([calleePort]));
  return `${svc("{consistentHash: {header: x-user-id, algorithm: maglev}}", endpoints(UPSTREAMS))}---
apiVersion: meshlet.dev/v1
kind: Policy
metadata: {name: bench}
spec:
  target: {service: bench}
  circuitBreaker: {errorThresholdPercentage: 50, volumeThreshold: 20}
  rateLimit: {requestsPerSecond: 1000, burst: 1000, key: {header: x-user-id}}
  outlierDetection: {consecutiveErrors: 5}
`;
}

function nginxConfig(dir: string): string {
  const proxy = 'proxy_http_version 1.1; proxy_set_header Connection "";';
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  limit_req_zone $http_x_user_id zone=perkey:10m rate=1000r/s;
  upstream app { server 127.0.0.1:${APP}; keepalive 64; }
  upstream all { hash $http_x_user_id consistent; ${UPSTREAMS.map((p) => `server 127.0.0.1:${p} max_fails=5;`).join(" ")} keepalive 64; }
  upstream hop { server 127.0.0.1:${NGINX.forward}; keepalive 64; }
  server { listen 127.0.0.1:${NGINX.forward}; location / { proxy_pass http://app; ${proxy} } }
  server { listen 127.0.0.1:${NGINX.full}; location / { limit_req zone=perkey burst=1000 nodelay; proxy_pass http://all; ${proxy} } }
  server { listen 127.0.0.1:${NGINX.twoHop}; location / { proxy_pass http://hop; ${proxy} } }
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
  let nextPort = 19_200;
  /** A sidecar on CPU 0: its outbound (or inbound, to `app`) port and pid. */
  const sidecar = async (config: string, app = APP) => {
    const name = `sc-${nextPort}`;
    const cfg = join(dir, `${name}.yaml`);
    await writeFile(cfg, config);
    const outbound = nextPort;
    const inbound = nextPort + 1;
    nextPort += 3;
    const child = start(
      PROXY_CPU,
      process.execPath,
      [
        "bin/meshlet.js",
        "sidecar",
        "--service",
        "bench-client",
        "--app-port",
        String(app),
        "--outbound",
        `127.0.0.1:${outbound}`,
        "--inbound",
        `127.0.0.1:${inbound}`,
        "--admin",
        `127.0.0.1:${nextPort - 1}`,
        "--config",
        cfg,
        "--log-level",
        "warn",
      ],
      { ...process.env, NODE_OPTIONS: NODE_FLAGS },
    );
    return { outbound, inbound, pid: child.pid as number };
  };
  try {
    for (const [i, port] of UPSTREAMS.entries()) {
      start(LOAD_CPU, process.execPath, [
        "test/bench/proxy-upstream.ts",
        String(port),
        i === 3 ? String(FAIL_EVERY) : "0",
      ]);
    }
    await writeFile(join(dir, "nginx.conf"), nginxConfig(dir));
    const nginx = start(PROXY_CPU, "nginx", [
      "-c",
      join(dir, "nginx.conf"),
      "-g",
      "daemon off;",
      "-e",
      join(dir, "error.log"),
    ]);
    const rows: Target[] = [];
    const target = (name: string, port: number, pids: number[], keyed = false): Target => {
      const t = { name, port, pids, keyed, agent: new Agent({ keepAlive: true, maxSockets: 10 }), runs: [] };
      rows.push(t);
      return t;
    };
    target("direct to the app", APP, []);
    // The worker is nginx's child, forked once the master is up: look for it only when nginx answers.
    await waitUp(NGINX.forward);
    const ngx = (await nginxWorker(nginx.pid)) ?? 0;
    target("nginx, one hop, forward only", NGINX.forward, [ngx]);
    const fwd = await sidecar(meshConfig("forward"));
    target("meshlet engine: outbound hop, forward only", fwd.outbound, [fwd.pid]);
    target("meshlet engine: inbound hop (to the app)", fwd.inbound, [fwd.pid]);
    target("nginx, full stack (hash per id, limit_req per id, 4 upstreams)", NGINX.full, [ngx], true);
    const full = await sidecar(meshConfig("full"));
    target("meshlet engine: outbound hop, full stack", full.outbound, [full.pid], true);
    target("nginx -> nginx -> app (two hops, one worker)", NGINX.twoHop, [ngx]);
    const callee = await sidecar(meshConfig("forward"));
    const caller = await sidecar(meshConfig("to-callee", callee.inbound));
    target("meshlet engine: caller sidecar -> callee sidecar -> app", caller.outbound, [caller.pid, callee.pid]);

    // The paced client is this process: its own JIT tier-up stalls must be over before the first row.
    await waitUp(APP);
    const warmAgent = new Agent({ keepAlive: true, maxSockets: 10 });
    for (let i = 0; i < CLIENT_WARMUP_RUNS; i++) await fixedRate(APP, warmAgent);
    warmAgent.destroy();
    const measured = await measureAll(rows);
    const byName = (prefix: string) => measured.find((r) => r.name.startsWith(prefix)) as Row;
    const direct = byName("direct");
    const f = (n: number | undefined, d = 0) => (n === undefined ? "-" : n.toFixed(d));
    process.stdout.write(
      `bench:proxy — ${availableParallelism()} CPUs, Node ${process.version}, wrk -t1 -c50 -d${SECONDS}s, median of ${ROUNDS} rounds over all paths in turn; RSS/private memory at 1,000 req/s before and latency at 1,000 req/s after the wrk rounds (paced client, 10 keep-alive connections, ${RATE_SECONDS}s, median of ${ROUNDS} rounds); proxies on CPU ${PROXY_CPU}, load + upstreams on CPU ${LOAD_CPU}; every Node proxy with NODE_OPTIONS=${NODE_FLAGS}\n\n`,
    );
    process.stdout.write(
      "| path | req/s (wrk -c50) | CPU µs/req | RSS at 1k req/s (MB) | private at 1k req/s (MB) | RSS after saturation (MB) | p50 ms @1k | p99 ms @1k |\n|---|---|---|---|---|---|---|---|\n",
    );
    for (const r of measured) {
      process.stdout.write(
        `| ${r.name} | ${f(r.rps)} | ${f(r.cpuUsPerReq, 1)} | ${f(r.rssAt1kMb)} | ${f(r.privateAt1kMb)} | ${f(r.rssMb)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} |\n`,
      );
    }
    const compare = (what: string, mine: Row, peer: Row) =>
      `${what}: CPU/req ${f((mine.cpuUsPerReq ?? 0) / (peer.cpuUsPerReq ?? 1), 2)}× nginx's, req/s ${f((100 * mine.rps) / peer.rps)} % of nginx's, added p99 @1k ${f(mine.p99 - direct.p99, 2)} ms (nginx ${f(peer.p99 - direct.p99, 2)} ms)\n`;
    process.stdout.write("\n");
    process.stdout.write(
      compare(
        "engine forward only (outbound)",
        byName("meshlet engine: outbound hop, forward"),
        byName("nginx, one hop"),
      ),
    );
    process.stdout.write(compare("engine inbound hop", byName("meshlet engine: inbound"), byName("nginx, one hop")));
    process.stdout.write(
      compare("engine full stack", byName("meshlet engine: outbound hop, full"), byName("nginx, full")),
    );
    process.stdout.write(compare("engine two sidecars", byName("meshlet engine: caller"), byName("nginx -> nginx")));
    process.stdout.write(
      `\nreq/s of each round:\n${measured.map((r) => `  ${r.name}: ${r.rounds.map((x) => f(x)).join(" / ")}`).join("\n")}\np99 ms at 1,000 req/s of each round:\n${measured.map((r) => `  ${r.name}: ${r.p99Rounds.map((x) => f(x, 2)).join(" / ")}`).join("\n")}\n`,
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

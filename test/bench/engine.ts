/**
 * bench:engine — CPU per request of the engine, in one run, against two peers on the same upstreams:
 * nginx (one worker) and the floor of Node (test/bench/bare-forwarder.ts, a keep-alive forwarder on bare
 * node:net sockets). Forward-only (one endpoint, no policy) and full stack (as bench:proxy: Maglev on 1,000
 * x-user-ids over four endpoints, one failing once in 200, a per-id rate limit, breaker, outlier detection).
 * With BENCH_BASELINE=<a second worktree, built>, that build's sidecar runs beside this one, so a before/after
 * ratio comes from the same run. Every row is measured in turn, ROUNDS times (wrk -c50), the median kept.
 * Proxies on CPU 0, wrk and the upstreams on CPU 1; every Node proxy with the same V8 flags.
 *
 * With BENCH_PROFILE=1, the engine sidecars (the baseline's too) run under `node --cpu-prof` (which adds its
 * own cost to their rows) and, after the rounds, the self time of each is printed grouped by layer (test/bench/profile-summary.ts):
 * where a target is missed, which layer costs what.
 *
 * Env: BENCH_SECONDS (one wrk run, default 5), BENCH_ROUNDS (default 5), BENCH_BASELINE (optional),
 * BENCH_PROFILE (optional).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { cpuMs } from "../helpers/proc.ts";
import { NODE_FLAGS } from "./node-flags.ts";
import { summaryTable } from "./profile-summary.ts";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BASELINE = process.env.BENCH_BASELINE;
const PROFILE = process.env.BENCH_PROFILE === "1";
const PROXY_CPU = "0";
const LOAD_CPU = "1";
const UPSTREAMS = [19_301, 19_302, 19_303, 19_304] as const;
const APP = UPSTREAMS[0];
const FAIL_EVERY = 200;
const NGINX = { forward: 19_310, full: 19_311 } as const;
const BARE = 19_312;

interface Target {
  name: string;
  port: number;
  pid: number;
  keyed: boolean;
  cpu: number[];
  rps: number[];
}

function get(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, headers: { host: "bench" }, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", () => resolve(0));
    req.end();
  });
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
  if (/Non-2xx/.test(stdout) && !keyed) throw new Error(`non-2xx answers on ${port}:\n${stdout}`);
  return Number(m[1]);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

function endpoints(ports: readonly number[]): string {
  return `[${ports.map((p) => `{address: 127.0.0.1, port: ${p}}`).join(", ")}]`;
}

function meshConfig(kind: "forward" | "full"): string {
  const svc = (lb: string, eps: string) =>
    `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: bench}\nspec:\n  loadBalancer: ${lb}\n  endpoints: ${eps}\n`;
  if (kind === "forward") return svc("{roundRobin: {}}", endpoints([APP]));
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
  server { listen 127.0.0.1:${NGINX.forward}; location / { proxy_pass http://app; ${proxy} } }
  server { listen 127.0.0.1:${NGINX.full}; location / { limit_req zone=perkey burst=1000 nodelay; proxy_pass http://all; ${proxy} } }
}
`;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "meshlet-bench-engine-"));
  const children: ChildProcess[] = [];
  const start = (cpu: string, cmd: string, args: string[], cwd = ROOT, env = process.env) => {
    const c = spawn("taskset", ["-c", cpu, cmd, ...args], { stdio: ["ignore", "ignore", "pipe"], cwd, env });
    c.stderr?.resume();
    children.push(c);
    return c;
  };
  let nextPort = 19_320;
  const profiled: { name: string; child: ChildProcess; dir: string }[] = [];
  const sidecar = async (root: string, config: string, profileAs?: string) => {
    const cfg = join(dir, `sc-${nextPort}.yaml`);
    await writeFile(cfg, config);
    const outbound = nextPort;
    nextPort += 3;
    const profileDir = join(dir, `prof-${outbound}`);
    const args = profileAs === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`];
    args.push("bin/meshlet.js", "sidecar", "--service", "bench-client", "--app-port", String(APP));
    args.push("--outbound", `127.0.0.1:${outbound}`, "--inbound", `127.0.0.1:${outbound + 1}`);
    args.push("--admin", `127.0.0.1:${outbound + 2}`, "--config", cfg, "--log-level", "warn");
    const child = start(PROXY_CPU, process.execPath, args, root, { ...process.env, NODE_OPTIONS: NODE_FLAGS });
    if (profileAs !== undefined) profiled.push({ name: profileAs, child, dir: profileDir });
    return { port: outbound, pid: child.pid as number };
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
    const bare = start(PROXY_CPU, process.execPath, ["test/bench/bare-forwarder.ts", String(BARE), String(APP)], ROOT, {
      ...process.env,
      NODE_OPTIONS: NODE_FLAGS,
    });
    await waitUp(NGINX.forward);
    const children0 = await readFile(`/proc/${nginx.pid}/task/${nginx.pid}/children`, "utf8").catch(() => "");
    const worker = Number(children0.trim().split(" ")[0] || nginx.pid);
    const targets: Target[] = [];
    const add = (name: string, port: number, pid: number, keyed: boolean) =>
      targets.push({ name, port, pid, keyed, cpu: [], rps: [] });
    add("nginx, forward only", NGINX.forward, worker, false);
    add("bare node:net forwarder, forward only", BARE, bare.pid as number, false);
    const builds: [string, string][] = [["engine (this build)", ROOT]];
    if (BASELINE !== undefined) builds.push(["engine (baseline build)", BASELINE]);
    // Every engine row under the profiler, the baseline's too: their ratio stays fair, and the layers compare.
    const profileAs = (label: string) => (PROFILE ? label : undefined);
    for (const [label, root] of builds) {
      const s = await sidecar(root, meshConfig("forward"), profileAs(`${label}, forward only`));
      add(`${label}, forward only`, s.port, s.pid, false);
    }
    add("nginx, full stack", NGINX.full, worker, true);
    for (const [label, root] of builds) {
      const s = await sidecar(root, meshConfig("full"), profileAs(`${label}, full stack`));
      add(`${label}, full stack`, s.port, s.pid, true);
    }
    for (const t of targets) await waitUp(t.port);
    // The profiles are summarized from here on: start-up and config loading are not the request path.
    const loadFromUs = Number(process.hrtime.bigint() / 1000n);
    // Warm-up: every proxy's JIT tiers up before the first measured round.
    for (const t of targets) await wrk(t.port, t.keyed, 3);
    for (let round = 0; round < ROUNDS; round++) {
      // Alternating order: a drift of this shared machine does not land on the same row each round.
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        const before = cpuMs(t.pid);
        const rps = await wrk(t.port, t.keyed);
        t.cpu.push(((cpuMs(t.pid) - before) * 1000) / (rps * SECONDS));
        t.rps.push(rps);
      }
    }
    const f = (n: number, d = 1) => n.toFixed(d);
    process.stdout.write(
      `bench:engine — ${availableParallelism()} CPUs, Node ${process.version}, wrk -t1 -c50 -d${SECONDS}s, median of ${ROUNDS} alternating rounds; proxies on CPU ${PROXY_CPU}, load + upstreams on CPU ${LOAD_CPU}; Node proxies with NODE_OPTIONS=${NODE_FLAGS}${BASELINE === undefined ? "" : `; baseline: ${BASELINE}`}\n\n`,
    );
    process.stdout.write(
      "| path | req/s | CPU µs/req | CPU µs/req of each round | req/s of each round |\n|---|---|---|---|---|\n",
    );
    const cpuOf = new Map<string, number>();
    for (const t of targets) {
      cpuOf.set(t.name, median(t.cpu));
      process.stdout.write(
        `| ${t.name} | ${f(median(t.rps), 0)} | ${f(median(t.cpu))} | ${t.cpu.map((c) => f(c)).join(" / ")} | ${t.rps.map((r) => f(r, 0)).join(" / ")} |\n`,
      );
    }
    const ratio = (a: string, b: string) =>
      `${a} / ${b}: ${f((cpuOf.get(a) ?? Number.NaN) / (cpuOf.get(b) ?? Number.NaN), 2)}×\n`;
    process.stdout.write("\nCPU per request, ratios of the medians:\n");
    for (const [label] of builds) {
      process.stdout.write(ratio(`${label}, forward only`, "nginx, forward only"));
      process.stdout.write(ratio(`${label}, forward only`, "bare node:net forwarder, forward only"));
      process.stdout.write(ratio(`${label}, full stack`, "nginx, full stack"));
    }
    process.stdout.write(ratio("bare node:net forwarder, forward only", "nginx, forward only"));
    if (BASELINE !== undefined) {
      process.stdout.write(ratio("engine (this build), forward only", "engine (baseline build), forward only"));
      process.stdout.write(ratio("engine (this build), full stack", "engine (baseline build), full stack"));
    }
    for (const p of profiled) {
      // The profile is written when the process exits: SIGTERM, its drain, then the file.
      const exited = new Promise((r) => p.child.once("exit", r));
      p.child.kill("SIGTERM");
      await exited;
      const files = await readdir(p.dir).catch(() => [] as string[]);
      const file = files.find((f) => f.endsWith(".cpuprofile"));
      process.stdout.write(`\nCPU profile of ${p.name} (self time from the warm-up on, --cpu-prof on):\n\n`);
      process.stdout.write(
        file === undefined ? "no profile written\n" : await summaryTable(join(p.dir, file), loadFromUs),
      );
    }
  } finally {
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

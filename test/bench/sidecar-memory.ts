/**
 * bench:sidecar-memory — RSS and private memory of one sidecar, idle and at 1,000 req/s, fed by a control
 * plane (`--control`, the resources applied with `meshlet apply`) or by a static file (`--config`, the same
 * resources). With BENCH_PEER=/path/to/another/checkout (built), that checkout's sidecar is measured in the
 * same run, rounds alternating, so the figures compare two versions under the same noise.
 *
 * One control plane (this checkout's) serves every sidecar; the upstream and the paced client run in this
 * process on CPU 1, the sidecar on CPU 0, with the V8 flags of bench:proxy. Private memory is RSS without
 * the pages shared with other processes (/proc/PID/smaps_rollup Private_Clean + Private_Dirty).
 *
 * BENCH_VARIANTS compares process settings in the same run: `;`-separated, each a list of V8 flags and
 * environment assignments (`--max-semi-space-size=1 MALLOC_ARENA_MAX=2`), every variant measured in every
 * round. Without it, one variant: the bench's NODE_FLAGS. The CPU per request at 1,000 req/s is printed beside
 * the memory, since what a flag saves in memory it may cost in garbage collection.
 *
 * Env: BENCH_ROUNDS (default 3), BENCH_RATE_SECONDS (load before the 1k sample, default 8).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { Agent, createServer, request } from "node:http";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { leaderOf, makeCluster } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { cpuMs, rssMb } from "../helpers/proc.ts";
import { controlTokenEnv } from "../support/control-auth.ts";
import { NODE_FLAGS } from "./node-flags.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PEER = process.env.BENCH_PEER;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 8);

/** A way to run the sidecar process: its NODE_OPTIONS and extra environment. */
interface Variant {
  name: string;
  nodeOptions: string;
  env: Record<string, string>;
}

function variants(spec: string | undefined): Variant[] {
  if (spec === undefined || spec.trim() === "") return [{ name: NODE_FLAGS, nodeOptions: NODE_FLAGS, env: {} }];
  return spec.split(";").map((v) => {
    const words = v
      .trim()
      .split(/\s+/)
      .filter((w) => w !== "");
    const env: Record<string, string> = {};
    for (const w of words.filter((w) => !w.startsWith("-"))) {
      const eq = w.indexOf("=");
      if (eq <= 0) throw new Error(`BENCH_VARIANTS: ${w} is neither a flag nor NAME=VALUE`);
      env[w.slice(0, eq)] = w.slice(eq + 1);
    }
    return { name: words.join(" "), nodeOptions: words.filter((w) => w.startsWith("-")).join(" "), env };
  });
}

async function privateMb(pid: number): Promise<number> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(rollup)?.[1] ?? 0);
  return (kb("Private_Clean") + kb("Private_Dirty")) / 1024;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function resources(upstreamPort: number): string {
  return `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: bench}
spec: {endpoints: [{address: 127.0.0.1, port: ${upstreamPort}}]}
---
apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: bench}
spec: {hosts: [bench], http: [{match: [{pathPrefix: /}], destinations: [{service: bench}], retries: {attempts: 1}}]}
---
apiVersion: meshlet.dev/v1
kind: Policy
metadata: {name: bench}
spec:
  target: {service: bench}
  circuitBreaker: {errorThresholdPercentage: 50}
  rateLimit: {requestsPerSecond: 100000, key: {header: x-user-id}}
  outlierDetection: {consecutiveErrors: 5}
`;
}

interface Started {
  proc: ChildProcess;
  outbound: number;
  /** Its stderr so far (the JSON log). */
  log: () => string;
}

async function startSidecar(tree: string, source: string[], dataDir: string, variant: Variant): Promise<Started> {
  const args = [
    "-c",
    "0",
    process.execPath,
    join(tree, "bin/meshlet.js"),
    "sidecar",
    "--service",
    "client",
    "--app-port",
    "1",
    "--outbound",
    "127.0.0.1:0",
    "--inbound",
    "127.0.0.1:0",
    "--admin",
    "127.0.0.1:0",
    "--data-dir",
    dataDir,
    "--drain-delay",
    "0",
    ...source,
  ];
  const proc = spawn("taskset", args, {
    stdio: ["ignore", "ignore", "pipe"],
    // The cluster's token: a control plane refuses a discovery stream without one (zero trust).
    env: { ...process.env, ...controlTokenEnv(), ...variant.env, NODE_OPTIONS: variant.nodeOptions },
  });
  let log = "";
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`sidecar did not start:\n${log}`)), 30_000);
    proc.stderr?.on("data", (c: Buffer) => {
      log += c.toString();
      const line = log.split("\n").find((l) => l.includes('"sidecar listening"'));
      if (line === undefined) return;
      clearTimeout(deadline);
      const outbound = String((JSON.parse(line) as { outbound: string }).outbound);
      resolve({ proc, outbound: Number(outbound.slice(outbound.lastIndexOf(":") + 1)), log: () => log });
    });
    proc.once("exit", (code) => reject(new Error(`sidecar exited with ${code}:\n${log}`)));
  });
}

/** Answers by status (and response flags) of the last paced run, for the error when a sidecar never routes. */
const lastAnswers = new Map<string, number>();

/** 1,000 req/s over 10 keep-alive connections for `seconds`; returns the count of 200 answers. */
async function paced(port: number, agent: Agent, seconds: number): Promise<number> {
  const total = 1000 * seconds;
  const startedAt = performance.now();
  let ok = 0;
  lastAnswers.clear();
  const count = (what: string) => lastAnswers.set(what, (lastAnswers.get(what) ?? 0) + 1);
  await new Promise<void>((resolve) => {
    let sent = 0;
    let done = 0;
    const finish = () => {
      if (++done === total) resolve();
    };
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(performance.now() - startedAt));
      for (; sent < due; sent++) {
        const req = request(
          { host: "127.0.0.1", port, headers: { host: "bench", "x-user-id": String(sent % 1000) }, agent },
          (res) => {
            if (res.statusCode === 200) ok++;
            count(`${res.statusCode} ${res.headers["x-meshlet-flags"] ?? ""}`.trim());
            res.resume();
            res.on("end", finish);
          },
        );
        req.on("error", (err: NodeJS.ErrnoException) => {
          count(err.code ?? err.message);
          finish();
        });
        req.end();
      }
      if (sent === total) clearInterval(tick);
    }, 1);
  });
  return ok;
}

interface Sample {
  idleRss: number;
  idlePrivate: number;
  loadRss: number;
  loadPrivate: number;
  /** CPU µs the sidecar spent per request during the paced load. */
  cpuUs: number;
}

async function measure(tree: string, source: string[], variant: Variant): Promise<Sample> {
  const dataDir = await mkdtemp(join(tmpdir(), "meshlet-bench-mem-"));
  const sc = await startSidecar(tree, source, dataDir, variant);
  const pid = sc.proc.pid as number;
  const agent = new Agent({ keepAlive: true, maxSockets: 10 });
  try {
    // Routed (the snapshot has arrived) before anything is sampled.
    for (let i = 0; (await paced(sc.outbound, agent, 1)) < 900; i++)
      if (i > 20) throw new Error(`never routed: ${JSON.stringify(Object.fromEntries(lastAnswers))}\n${sc.log()}`);
    await sleep(3_000);
    const idleRss = rssMb(pid);
    const idlePrivate = await privateMb(pid);
    const cpuBefore = cpuMs(pid);
    const ok = await paced(sc.outbound, agent, RATE_SECONDS);
    const cpuUs = ((cpuMs(pid) - cpuBefore) * 1000) / (1000 * RATE_SECONDS);
    if (ok < 1000 * RATE_SECONDS * 0.99) throw new Error(`only ${ok} answers were 200`);
    const loadRss = rssMb(pid);
    const loadPrivate = await privateMb(pid);
    return { idleRss, idlePrivate, loadRss, loadPrivate, cpuUs };
  } finally {
    agent.destroy();
    await new Promise((r) => {
      sc.proc.once("exit", r);
      sc.proc.kill("SIGTERM");
    });
    await rm(dataDir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function main(): Promise<void> {
  const upstream = createServer((_req, res) => res.end("x".repeat(100)));
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const upstreamPort = (upstream.address() as { port: number }).port;
  const dir = await mkdtemp(join(tmpdir(), "meshlet-bench-mem-cfg-"));
  const file = join(dir, "mesh.yaml");
  await writeFile(file, resources(upstreamPort));
  const cluster = await makeCluster(1);
  try {
    const [node] = cluster.nodes;
    if (node === undefined) throw new Error("no node");
    cluster.start(node);
    await leaderOf([node]);
    const applied = await runCli(["apply", "-f", file, "--server", `https://${node.http}`]);
    if (applied.code !== 0) throw new Error(applied.stderr);
    const trees = [{ name: "this", tree: ROOT }, ...(PEER === undefined ? [] : [{ name: "peer", tree: PEER }])];
    const vs = variants(process.env.BENCH_VARIANTS);
    const label = (v: Variant) => (vs.length === 1 ? "" : ` [${v.name}]`);
    const paths = trees.flatMap((t) =>
      vs.flatMap((v) => [
        { name: `${t.name} --control${label(v)}`, tree: t.tree, source: ["--control", node.grpc], variant: v },
        { name: `${t.name} --config${label(v)}`, tree: t.tree, source: ["--config", file], variant: v },
      ]),
    );
    const samples = new Map<string, Sample[]>(paths.map((p) => [p.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of paths) {
        const s = await measure(p.tree, p.source, p.variant);
        samples.get(p.name)?.push(s);
        process.stderr.write(`round ${round + 1} ${p.name}: ${JSON.stringify(s)}\n`);
      }
    }
    const f = (x: number) => x.toFixed(1);
    process.stdout.write(
      `bench:sidecar-memory — ${availableParallelism()} CPUs, Node ${process.version}, ${vs.length === 1 ? `NODE_OPTIONS=${NODE_FLAGS}` : `${vs.length} variants`}, median of ${ROUNDS} alternating rounds, ${RATE_SECONDS}s at 1,000 req/s before the loaded sample; peer: ${PEER ?? "none"}\n\n`,
    );
    process.stdout.write(
      "| sidecar | RSS idle (MB) | private idle (MB) | RSS at 1k req/s (MB) | private at 1k req/s (MB) | CPU µs/req at 1k req/s |\n|---|---|---|---|---|---|\n",
    );
    for (const [name, ss] of samples) {
      const m = (k: keyof Sample) => f(median(ss.map((s) => s[k])));
      process.stdout.write(
        `| ${name} | ${m("idleRss")} | ${m("idlePrivate")} | ${m("loadRss")} | ${m("loadPrivate")} | ${m("cpuUs")} |\n`,
      );
    }
  } finally {
    await cluster.stopAll();
    upstream.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();

/**
 * bench:push — time from a committed change to every simulated sidecar
 * holding the new version.
 *
 * Three Discovery servers (three gRPC ports, as three nodes would expose)
 * serve one in-process state; 1,000 sidecars in two load-generator processes
 * connect round-robin. This measures the discovery push path (scoping,
 * coalescing, serialisation, streams), not Raft replication: the change's
 * "commit" is the moment the state applied it, which stands for the apply's
 * HTTP 200. Env: SIDECARS (1000), SERVICES (1000), WORKERS (2), SUSTAIN_S (60).
 */
import { type ChildProcess, fork } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { systemClock } from "../../src/common/clock.ts";
import { silentLogger } from "../../src/common/logger.ts";
import { createRegistry } from "../../src/common/metrics.ts";
import { discoveryProto } from "../../src/config/discovery-proto.ts";
import { parseResources } from "../../src/config/load.ts";
import type { Resource } from "../../src/config/resources.ts";
import { DiscoveryServer } from "../../src/controlplane/discovery/server.ts";
import { MemorySource } from "../controlplane/discovery/memory-source.ts";

const SIDECARS = Number(process.env.SIDECARS ?? 1000);
const SERVICES = Number(process.env.SERVICES ?? 1000);
const WORKERS = Number(process.env.WORKERS ?? 2);
const SUSTAIN_S = Number(process.env.SUSTAIN_S ?? 60);
const ROUNDS = 5;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function service(name: string, port: number): Resource {
  const [r] = parseResources(
    `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {ports: [{port: ${port}}]}\n`,
    "bench",
  );
  if (r === undefined) throw new Error("unreachable");
  return r;
}

interface Report {
  min: number;
  max: number;
  backwards: number;
  arrivals: number[];
  rssMb: number;
}

class Worker {
  readonly child: ChildProcess;
  #pending: ((msg: unknown) => void)[] = [];

  constructor(addresses: string[], first: number, count: number) {
    this.child = fork(fileURLToPath(new URL("./push-sidecars.ts", import.meta.url)), {
      env: { ...process.env, PUSH_BENCH_START: JSON.stringify({ addresses, first, count, services: SERVICES }) },
    });
    this.child.on("message", (msg) => this.#pending.shift()?.(msg));
  }

  next(): Promise<unknown> {
    return new Promise((resolve) => this.#pending.push(resolve));
  }

  async report(): Promise<Report> {
    const p = this.next();
    this.child.send({ report: true });
    return (await p) as Report;
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function waitAll(workers: Worker[], version: number, timeoutMs: number): Promise<Report[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reports = await Promise.all(workers.map((w) => w.report()));
    if (reports.every((r) => r.min >= version)) return reports;
    if (Date.now() > deadline) {
      throw new Error(`sidecars did not reach version ${version}: min ${Math.min(...reports.map((r) => r.min))}`);
    }
    await sleep(100);
  }
}

const source = new MemorySource();
await source.propose({
  type: "mesh.apply",
  resources: [service("shared", 80), ...Array.from({ length: SERVICES }, (_, i) => service(`svc-${i}`, 80))],
});
const nodes: { server: Server; discovery: DiscoveryServer; address: string }[] = [];
for (let i = 0; i < 3; i++) {
  const discovery = new DiscoveryServer(source, {
    clock: systemClock,
    logger: silentLogger(),
    registry: createRegistry({ processMetrics: false }),
  });
  const server = new Server();
  server.addService(discoveryProto().meshlet.discovery.v1.Discovery.service, discovery.handlers());
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  nodes.push({ server, discovery, address: `127.0.0.1:${port}` });
}
const addresses = nodes.map((n) => n.address);
const per = Math.ceil(SIDECARS / WORKERS);
const workers = Array.from(
  { length: WORKERS },
  (_, w) => new Worker(addresses, w * per, Math.max(0, Math.min(per, SIDECARS - w * per))),
);
await Promise.all(workers.map((w) => w.next()));
const connectStart = now();
await waitAll(workers, source.kv.revision, 120_000);
const connectMs = now() - connectStart;
const streams = nodes.reduce((n, node) => n + node.discovery.sidecars().length, 0);

let port = 81;
const latencies: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const next = source.kv.revision + 1;
  await Promise.all(
    workers.map((w) => {
      const p = w.next();
      w.child.send({ watch: next });
      return p;
    }),
  );
  await source.propose({ type: "mesh.apply", resources: [service("shared", port++)] });
  const committed = now();
  const reports = await waitAll(workers, next, 60_000);
  for (const r of reports) for (const a of r.arrivals) if (a > 0) latencies.push(a - committed);
  await sleep(300);
}
latencies.sort((a, b) => a - b);
const rssNodesMb = process.memoryUsage().rss / 2 ** 20;

const sustainStart = Date.now();
let changes = 0;
let lastCommitted = now();
while (Date.now() - sustainStart < SUSTAIN_S * 1000) {
  await source.propose({ type: "mesh.apply", resources: [service("shared", port++)] });
  lastCommitted = now();
  changes++;
  await sleep(Math.max(0, sustainStart + changes * 100 - Date.now()));
}
const lastVersion = source.kv.revision;
const final = await waitAll(workers, lastVersion, 60_000);
const settleMs = now() - lastCommitted;
const backwards = final.reduce((n, r) => n + r.backwards, 0);
const workerRss = final.map((r) => r.rssMb.toFixed(0)).join(" / ");

const rows: [string, string][] = [
  ["machine", `${availableParallelism()} cores, Node ${process.version}`],
  ["sidecars / services / nodes", `${SIDECARS} / ${SERVICES} / 3 (one process)`],
  ["streams open", String(streams)],
  ["all sidecars connected and at v1", `${(connectMs / 1000).toFixed(1)} s`],
  [`push latency, ${ROUNDS} changes × ${SIDECARS} sidecars: p50`, `${percentile(latencies, 50).toFixed(1)} ms`],
  ["p99", `${percentile(latencies, 99).toFixed(1)} ms`],
  ["max", `${(latencies.at(-1) ?? Number.NaN).toFixed(1)} ms`],
  ["RSS, process hosting the 3 nodes", `${rssNodesMb.toFixed(0)} MB`],
  ["RSS, load generators", `${workerRss} MB`],
  [`sustained ${SUSTAIN_S} s at 10 changes/s`, `${changes} changes`],
  ["every sidecar at the last version", `yes, within ${settleMs.toFixed(0)} ms of the last change`],
  ["versions that went backwards", String(backwards)],
];
const width = Math.max(...rows.map(([k]) => k.length));
process.stdout.write(`\n| ${"measure".padEnd(width)} | value |\n|${"-".repeat(width + 2)}|---|\n`);
for (const [k, v] of rows) process.stdout.write(`| ${k.padEnd(width)} | ${v} |\n`);

for (const w of workers) w.child.send({ stop: true });
await sleep(500);
for (const n of nodes) {
  n.discovery.close();
  n.server.forceShutdown();
}
process.exit(backwards === 0 ? 0 : 1);

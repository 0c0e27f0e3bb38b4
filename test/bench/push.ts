/**
 * bench:push — time from a committed change to every simulated sidecar
 * holding the new version; 1,000 sidecars in two load-generator processes
 * connect round-robin to three nodes.
 *
 * PUSH_BENCH_MODE=cluster (default): three real `meshlet control` processes
 * (built dist/), changes POSTed to /v1/apply, time measured from its HTTP 200.
 * PUSH_BENCH_MODE=in-process: three Discovery servers over one in-process
 * state, no Raft; isolates the push path. Env: SIDECARS (1000), SERVICES
 * (1000), WORKERS (2), ROUNDS (30), SUSTAIN_S (60); LOADGEN_CPUS / NODE_CPUS
 * (taskset lists; by default the load generators and this process get the
 * last core, the nodes the others). Ends with a connection storm: the leader
 * is killed and the time until every sidecar streams again is reported, with
 * the other nodes' memory against their idle figure. In cluster mode each
 * simulated sidecar streams with a `sidecar` token bound to its service (made
 * through POST /v1/tokens first) and over TLS (the nodes' bundle); a refused stream ends the run at once.
 * FIRST_MESSAGE_S: the simulated sidecars' first-message timeout (default: a sidecar's own, 3 s doubling to
 * 24 s). Thousands of them share one load-generator core, which then takes longer than 24 s to get through the
 * TLS handshakes and first snapshots of all of them; every stream is given up and opened again, and the storm
 * never ends. A real sidecar has its own CPU, so raise it (e.g. 300) to measure the nodes at 10,000; their
 * keep-alive (2 s pings, 2 s to answer) gets the same allowance, or they drop their own connections.
 * BENCH_PROFILE=1 runs the nodes and the load generators under `node --cpu-prof` and prints each one's self
 * time by layer over the timed changes, and over the storm; BENCH_PROFILE=changes skips the storm, whose
 * kill -9 leaves no profile of the leader.
 */
import * as fs from "node:fs";
import { cpus, tmpdir } from "node:os";
import * as path from "node:path";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { systemClock } from "../../src/common/clock.ts";
import { silentLogger } from "../../src/common/logger.ts";
import { createRegistry } from "../../src/common/metrics.ts";
import { discoveryProto } from "../../src/config/discovery-proto.ts";
import { parseResources } from "../../src/config/load.ts";
import { DiscoveryServer } from "../../src/controlplane/discovery/server.ts";
import { MemorySource } from "../controlplane/discovery/memory-source.ts";
import {
  type ClusterTarget,
  clusterTarget,
  LoadGenerator,
  now,
  percentile,
  pin,
  pinning,
  printTable,
  sidecarTokens,
  sleep,
  type Target,
} from "./load-generators.ts";
import { summaryTable } from "./profile-summary.ts";

const SIDECARS = Number(process.env.SIDECARS ?? 1000);
const SERVICES = Number(process.env.SERVICES ?? 1000);
const WORKERS = Number(process.env.WORKERS ?? 2);
const SUSTAIN_S = Number(process.env.SUSTAIN_S ?? 60);
const ROUNDS = Number(process.env.ROUNDS ?? 30);
/** How long every sidecar may take to connect and hold the first version. */
const CONNECT_S = Number(process.env.CONNECT_S ?? 120);
const FIRST_MESSAGE_S = process.env.FIRST_MESSAGE_S === undefined ? undefined : Number(process.env.FIRST_MESSAGE_S);
const MODE = process.env.PUSH_BENCH_MODE ?? "cluster";
const PROFILE = process.env.BENCH_PROFILE;
const PROFILE_DIR =
  PROFILE === "1" || PROFILE === "changes" ? fs.mkdtempSync(path.join(tmpdir(), "meshlet-push-prof-")) : undefined;
/** The parts of the run each profile is summarized over: µs on the profiles' clock. */
const windows: { label: string; from: number; to: number }[] = [];
/** µs on the monotonic clock the profiles' sample times use. */
const monoUs = () => Number(process.hrtime.bigint() / 1000n);
const IDLE_SAMPLE_MS = 3000;

function serviceYaml(name: string, port: number): string {
  return `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {ports: [{port: ${port}}]}\n`;
}

async function inProcess(): Promise<Target> {
  const source = new MemorySource();
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
  return {
    label: "3 in one process, no Raft",
    addresses: nodes.map((n) => n.address),
    async apply(yaml) {
      await source.propose({ type: "mesh.apply", resources: parseResources(yaml, "bench") });
      return source.kv.revision;
    },
    streams: async () => nodes.reduce((n, node) => n + node.discovery.sidecars().length, 0),
    rssMb: () => [process.memoryUsage().rss / 2 ** 20],
    cpuMs: () => {
      const { user, system } = process.cpuUsage();
      return [(user + system) / 1000];
    },
    async stop() {
      for (const n of nodes) {
        n.discovery.close();
        n.server.forceShutdown();
      }
    },
  };
}

interface Report {
  min: number;
  max: number;
  backwards: number;
  arrivals: number[];
  rssMb: number;
  cpuMs: number;
  /** Sidecars with a stream that has delivered a snapshot. */
  connected: number;
  /** Streams the nodes refused for their token: any is a broken run. */
  refusals: { count: number; first: string };
  /** Streams that ended, by reason (its first 60 characters). */
  lost: Record<string, number>;
}

type Worker = LoadGenerator<Report>;

/** The load generators' lost streams summed by reason, most frequent first. */
function lostByReason(reports: Report[]): string {
  const lost = new Map<string, number>();
  for (const r of reports) for (const [k, n] of Object.entries(r.lost)) lost.set(k, (lost.get(k) ?? 0) + n);
  return lost.size === 0 ? "none" : JSON.stringify(Object.fromEntries([...lost].sort((a, b) => b[1] - a[1])));
}

async function waitAll(workers: Worker[], version: number, timeoutMs: number): Promise<Report[]> {
  const deadline = Date.now() + timeoutMs;
  let progressAt = Date.now() + 5000;
  for (;;) {
    const reports = await Promise.all(workers.map((w) => w.report()));
    if (reports.every((r) => r.min >= version)) return reports;
    if (Date.now() > progressAt) {
      // A long wait (thousands of sidecars connecting) says how far it got, on stderr beside the results.
      progressAt = Date.now() + 5000;
      const streaming = reports.reduce((n, r) => n + r.connected, 0);
      process.stderr.write(
        `bench:push: waiting for version ${version}: ${streaming} of ${SIDECARS} streaming; streams lost so far: ${lostByReason(reports)}\n`,
      );
    }
    const refused = reports.find((r) => r.refusals.count > 0)?.refusals;
    if (refused !== undefined || Date.now() > deadline) {
      // Nothing is left running: the load generators and the nodes go before the error is reported.
      for (const w of workers) w.child.kill();
      await target.stop();
      if (refused !== undefined) throw new Error(`the nodes refused sidecar streams (${refused.first})`);
      const connected = reports.reduce((n, r) => n + r.connected, 0);
      process.stderr.write(`bench:push: streams lost, by reason: ${lostByReason(reports)}\n`);
      if ("cluster" in target)
        for (const n of (target as ClusterTarget).cluster.nodes)
          process.stderr.write(
            `bench:push: ${n.id} (exit ${n.proc?.exitCode ?? "none"}) last log lines:\n${n.log.join("").split("\n").slice(-6).join("\n")}\n`,
          );
      throw new Error(
        `sidecars did not reach version ${version}: min ${Math.min(...reports.map((r) => r.min))}, ${connected} of ${SIDECARS} streaming`,
      );
    }
    await sleep(100);
  }
}

// The bench process drives the load generators: it runs on their core, not the nodes'.
if (pinning !== undefined && MODE !== "in-process") pin(process.pid, pinning.loadgen);
// The nodes and load generators inherit NODE_OPTIONS when they start; this process is not profiled.
const nodeOptions = process.env.NODE_OPTIONS;
if (PROFILE_DIR !== undefined) process.env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${PROFILE_DIR}`;
const target = MODE === "in-process" ? await inProcess() : await clusterTarget();
const everything = [
  serviceYaml("shared", 80),
  ...Array.from({ length: SERVICES }, (_, i) => serviceYaml(`svc-${i}`, 80)),
];
/** The mesh is applied 100 resources at a time: one apply of all of them can outlast its parse deadline on a busy machine. */
async function applyAll(docs: string[]): Promise<number> {
  let revision = 0;
  for (let i = 0; i < docs.length; i += 100) revision = await target.apply(docs.slice(i, i + 100).join("---\n"));
  return revision;
}
let version = await applyAll(everything).catch(async (err: unknown) => {
  await target.stop();
  throw err;
});
const addresses = target.addresses;
const tokensFile =
  "cluster" in target
    ? await sidecarTokens(
        target as ClusterTarget,
        Array.from({ length: Math.min(SERVICES, SIDECARS) }, (_, i) => `svc-${i}`),
      )
    : undefined;
const per = Math.ceil(SIDECARS / WORKERS);
const workers = Array.from(
  { length: WORKERS },
  (_, w) =>
    new LoadGenerator<Report>({
      addresses,
      first: w * per,
      count: Math.max(0, Math.min(per, SIDECARS - w * per)),
      services: SERVICES,
      ...(tokensFile === undefined ? {} : { tokensFile }),
      ...("cluster" in target ? { caFile: (target as ClusterTarget).caFile } : {}),
      ...(FIRST_MESSAGE_S === undefined ? {} : { firstMessageTimeoutMs: FIRST_MESSAGE_S * 1000 }),
    }),
);
if (nodeOptions === undefined) delete process.env.NODE_OPTIONS;
else process.env.NODE_OPTIONS = nodeOptions;
/** Which process each profile belongs to, by pid. */
const profiled = new Map<number, string>();
if ("cluster" in target)
  for (const n of (target as ClusterTarget).cluster.nodes)
    if (n.proc?.pid !== undefined) profiled.set(n.proc.pid, `node ${n.id}`);
workers.forEach((w, i) => {
  if (w.child.pid !== undefined) profiled.set(w.child.pid, `load generator ${i + 1}`);
});
await Promise.all(workers.map((w) => w.next()));
const connectStart = now();
await waitAll(workers, version, CONNECT_S * 1000);
const connectMs = now() - connectStart;
const streams = await target.streams();

let port = 81;
const latencies: number[] = [];
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const cpuNow = async () => ({
  at: now(),
  nodes: sum(target.cpuMs()),
  loadgen: sum((await Promise.all(workers.map((w) => w.report()))).map((r) => r.cpuMs)),
});
// What 1,000 idle sidecars cost (keepalives, heartbeats, lease renewals), so the rounds' figure is the pushes'.
const idleStart = await cpuNow();
await sleep(IDLE_SAMPLE_MS);
const idleEnd = await cpuNow();
const changesFromUs = monoUs();
const idleRate = {
  nodes: (idleEnd.nodes - idleStart.nodes) / (idleEnd.at - idleStart.at),
  loadgen: (idleEnd.loadgen - idleStart.loadgen) / (idleEnd.at - idleStart.at),
};
for (let round = 0; round < ROUNDS; round++) {
  await Promise.all(
    workers.map((w) => {
      const p = w.next();
      // Only the shared service changes, so any newer version a sidecar receives is this change.
      w.child.send({ watch: version + 1 });
      return p;
    }),
  );
  version = await target.apply(serviceYaml("shared", port++));
  const committed = now();
  const reports = await waitAll(workers, version, 60_000);
  const arrivals: number[] = [];
  for (const r of reports) for (const a of r.arrivals) if (a > 0) arrivals.push(a - committed);
  arrivals.sort((a, b) => a - b);
  process.stdout.write(
    `change ${round + 1}: p50 ${percentile(arrivals, 50).toFixed(0)} ms, last ${arrivals.at(-1)?.toFixed(0)} ms\n`,
  );
  latencies.push(...arrivals);
  await sleep(300);
}
latencies.sort((a, b) => a - b);
windows.push({ label: `the ${ROUNDS} timed changes`, from: changesFromUs, to: monoUs() });
const roundsEnd = await cpuNow();
const perPush = (ms: number) => ((ms * 1000) / (ROUNDS * SIDECARS)).toFixed(0);
const roundsMs = roundsEnd.at - idleEnd.at;
const cpuNodesUs = perPush(roundsEnd.nodes - idleEnd.nodes - idleRate.nodes * roundsMs);
const cpuLoadgenUs = perPush(roundsEnd.loadgen - idleEnd.loadgen - idleRate.loadgen * roundsMs);
const rssNodesMb = target.rssMb();

// Changes are sent on a 100 ms schedule without waiting for the previous one, as independent operators would.
const sustainStart = Date.now();
let changes = 0;
let refused = 0;
let lastCommitted = now();
const inflight: Promise<number>[] = [];
while (Date.now() - sustainStart < SUSTAIN_S * 1000) {
  inflight.push(
    target.apply(serviceYaml("shared", port++)).then(
      (v) => {
        lastCommitted = now();
        return v;
      },
      // A refused change (e.g. a 503 past its deadline on a saturated machine) is counted, not fatal.
      () => {
        refused++;
        return 0;
      },
    ),
  );
  changes++;
  await sleep(Math.max(0, sustainStart + changes * 100 - Date.now()));
}
version = Math.max(...(await Promise.all(inflight)));
const lastVersion = version;
const final = await waitAll(workers, lastVersion, 60_000);
const settleMs = now() - lastCommitted;
const backwards = final.reduce((n, r) => n + r.backwards, 0);
const workerRss = final.map((r) => r.rssMb.toFixed(0)).join(" / ");

/**
 * Connection storm: the leader is killed (kill -9), so its sidecars reconnect to the other nodes while those
 * elect a new leader. Done when every sidecar has a stream delivering snapshots again; the survivors' memory
 * is sampled meanwhile against their idle figure.
 */
async function storm(c: ClusterTarget): Promise<[string, string][]> {
  const survivors = c.cluster.nodes.filter((n) => n !== c.leader);
  const rssOf = () => c.rssMb().filter((_, i) => c.cluster.nodes[i] !== c.leader);
  const idle = rssOf();
  const peak = [...idle];
  const before = sum((await Promise.all(workers.map((w) => w.report()))).map((r) => r.connected));
  const start = now();
  const fromUs = monoUs();
  await c.cluster.kill9(c.leader);
  let backMs = Number.NaN;
  while (now() - start < 60_000) {
    rssOf().forEach((mb, i) => {
      peak[i] = Math.max(peak[i] ?? 0, mb);
    });
    const connected = sum((await Promise.all(workers.map((w) => w.report()))).map((r) => r.connected));
    if (connected === SIDECARS) {
      backMs = now() - start;
      break;
    }
    await sleep(50);
  }
  windows.push({
    label: "the storm (kill -9 of the leader until every sidecar streams again)",
    from: fromUs,
    to: monoUs(),
  });
  await sleep(2000);
  rssOf().forEach((mb, i) => {
    peak[i] = Math.max(peak[i] ?? 0, mb);
  });
  const growth = Math.max(...peak.map((p, i) => p / (idle[i] ?? Number.NaN)));
  return [
    [`storm: sidecars connected before the leader's kill -9`, `${before} of ${SIDECARS}`],
    [
      "storm: every sidecar streaming again after",
      Number.isNaN(backMs) ? "not within 60 s" : `${(backMs / 1000).toFixed(2)} s`,
    ],
    [
      `storm: RSS of the ${survivors.length} other nodes, idle → peak`,
      `${idle.map((r) => r.toFixed(0)).join(" / ")} → ${peak.map((r) => r.toFixed(0)).join(" / ")} MB (${growth.toFixed(2)}x)`,
    ],
  ];
}
const stormRows: [string, string][] =
  PROFILE === "changes"
    ? [["storm", "skipped: BENCH_PROFILE=changes"]]
    : "cluster" in target
      ? await storm(target as ClusterTarget)
      : [];

const rows: [string, string][] = [
  ["machine", `${cpus().length} cores, Node ${process.version}, shared with other work: one run, ratios and latencies`],
  [
    "cores (taskset)",
    pinning === undefined || MODE === "in-process"
      ? "not pinned"
      : `nodes ${pinning.nodes}, load generators and bench ${pinning.loadgen}`,
  ],
  ["sidecars / services", `${SIDECARS} / ${SERVICES}`],
  [
    "sidecars' first-message timeout",
    FIRST_MESSAGE_S === undefined ? "a sidecar's default (3 s, doubling to 24 s)" : `${FIRST_MESSAGE_S} s`,
  ],
  ["nodes", target.label],
  ["streams open", String(streams)],
  ["all sidecars connected and at v1", `${(connectMs / 1000).toFixed(1)} s`],
  [`push latency, ${ROUNDS} changes × ${SIDECARS} sidecars: first`, `${(latencies[0] ?? Number.NaN).toFixed(1)} ms`],
  ["p50", `${percentile(latencies, 50).toFixed(1)} ms`],
  ["p99", `${percentile(latencies, 99).toFixed(1)} ms`],
  ["max", `${(latencies.at(-1) ?? Number.NaN).toFixed(1)} ms`],
  [
    "idle CPU of all nodes / load generators",
    `${(idleRate.nodes * 100).toFixed(0)} / ${(idleRate.loadgen * 100).toFixed(0)} % of a core`,
  ],
  ["CPU per sidecar per change, above idle: nodes / load generators", `${cpuNodesUs} / ${cpuLoadgenUs} µs`],
  ["RSS of the node processes", `${rssNodesMb.map((r) => r.toFixed(0)).join(" / ")} MB`],
  ["RSS, load generators", `${workerRss} MB`],
  [`sustained ${SUSTAIN_S} s at 10 changes/s`, `${changes} changes, ${refused} refused`],
  ["every sidecar at the last version", `yes, within ${settleMs.toFixed(0)} ms of the last change`],
  ["versions that went backwards", String(backwards)],
  ["streams lost before the storm, by reason", lostByReason(final)],
  ...stormRows,
];
printTable(rows);

for (const w of workers) w.child.send({ stop: true });
await sleep(500);
await target.stop();
if (PROFILE_DIR !== undefined) {
  for (const file of fs.readdirSync(PROFILE_DIR).filter((f) => f.endsWith(".cpuprofile"))) {
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main thread, others are workers (parsing).
    const [pid, thread] = file.split(".").slice(3, 5).map(Number) as [number, number];
    const who = `${profiled.get(pid) ?? `pid ${pid}`}${thread === 0 ? "" : `, worker thread ${thread}`}`;
    for (const w of windows) {
      process.stdout.write(`\nCPU profile of ${who}, self time during ${w.label}:\n\n`);
      process.stdout.write(await summaryTable(path.join(PROFILE_DIR, file), w.from, 0.01, w.to));
    }
  }
}
process.exit(backwards === 0 ? 0 : 1);

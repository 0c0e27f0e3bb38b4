/**
 * What bench:push and bench:config share: three real `meshlet control`
 * processes, and load-generator child processes (push-sidecars.ts) that run
 * the simulated sidecars and answer over IPC.
 */
import { type ChildProcess, fork, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { availableParallelism } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { type Cluster, type ControlProc, FAST_FLAGS, leaderOf, makeCluster } from "../controlplane/harness.ts";
import { cpuMs, rssMb } from "../helpers/proc.ts";

/** Three nodes to push from, and a way to commit a change to them. */
export interface Target {
  label: string;
  addresses: string[];
  /** Commits `yaml`; resolves at the commit (the HTTP 200) with its revision. */
  apply(yaml: string): Promise<number>;
  streams(): Promise<number>;
  rssMb(): number[];
  /** CPU time used so far by each node process (in-process: the bench process), in ms. */
  cpuMs(): number[];
  stop(): Promise<void>;
}

export interface ClusterTarget extends Target {
  cluster: Cluster;
  leader: ControlProc;
  /** The trust bundle the nodes' TLS is checked against, as a sidecar's --ca-file. */
  caFile: string;
}

export async function clusterTarget(): Promise<ClusterTarget> {
  const c = await makeCluster(3, FAST_FLAGS);
  for (const n of c.nodes) c.start(n);
  const leader = await leaderOf(c.nodes).catch(async (err: unknown) => {
    await c.stopAll();
    throw err;
  });
  if (pinning !== undefined) for (const n of c.nodes) pin(n.proc?.pid, pinning.nodes);
  return {
    cluster: c,
    leader,
    label: "3 meshlet control processes (Raft)",
    caFile: path.join(leader.dataDir, "ca.pem"),
    addresses: c.nodes.map((n) => n.grpc),
    async apply(yaml) {
      const res = await fetch(`https://${leader.http}/v1/apply`, { method: "POST", body: yaml });
      if (res.status !== 200) throw new Error(`apply answered ${res.status}: ${await res.text()}`);
      return ((await res.json()) as { revision: number }).revision;
    },
    async streams() {
      // Any node lists the whole cluster's sidecars; one per node shows they are spread.
      const node = c.nodes[0];
      const res = await fetch(`https://${node?.http}/v1/sidecars`);
      const { sidecars, unreachable } = (await res.json()) as { sidecars: { node: string }[]; unreachable: string[] };
      // A node too busy to answer its peer in time (thousands of streams opening) is said, not fatal: the count
      // is informative, the push latencies are what the bench measures.
      if (unreachable.length > 0)
        process.stdout.write(`streams: nodes that did not answer: ${unreachable.join(", ")}\n`);
      const perNode = new Map<string, number>();
      for (const s of sidecars) perNode.set(s.node, (perNode.get(s.node) ?? 0) + 1);
      process.stdout.write(`streams per node: ${[...perNode].map(([id, n]) => `${id} ${n}`).join(", ")}\n`);
      return sidecars.length;
    },
    rssMb: () => c.nodes.map((n) => (n.proc?.pid === undefined ? Number.NaN : rssMb(n.proc.pid))),
    cpuMs: () => c.nodes.map((n) => (n.proc?.pid === undefined ? Number.NaN : cpuMs(n.proc.pid))),
    stop: () => c.stopAll(),
  };
}

/**
 * A `sidecar` token bound to each of `services`, made through POST /v1/tokens (the harness sends the cluster's
 * admin token), written to a file the load generators read: service name → token. Each simulated sidecar then
 * opens its stream as a real one does, with a token that may speak for its own service only. Resolves once
 * every node has applied the last one, so no sidecar meets a node that does not know its token yet.
 */
export async function sidecarTokens(c: ClusterTarget, services: readonly string[]): Promise<string> {
  const tokens: Record<string, string> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = next++; i < services.length; i = next++) {
        const service = services[i] ?? "";
        const res = await fetch(`https://${c.leader.http}/v1/tokens`, {
          method: "POST",
          body: JSON.stringify({ name: `bench-${service}`, role: "sidecar", service }),
        });
        if (res.status !== 201) throw new Error(`POST /v1/tokens answered ${res.status}: ${await res.text()}`);
        tokens[service] = ((await res.json()) as { token: string }).token;
      }
    }),
  );
  // A linearizable read on each node waits until that node has applied everything committed before it.
  for (const n of c.cluster.nodes) {
    const res = await fetch(`https://${n.http}/v1/tokens`);
    if (res.status !== 200) throw new Error(`GET /v1/tokens on ${n.id} answered ${res.status}: ${await res.text()}`);
  }
  const file = path.join(c.cluster.root, "sidecar-tokens.json");
  fs.writeFileSync(file, JSON.stringify(tokens), { mode: 0o600 });
  return file;
}

/**
 * Which cores the load generators and the nodes run on (taskset lists), so the nodes' CPU is what a bench
 * measures rather than a share of cores the simulated sidecars also use. LOADGEN_CPUS / NODE_CPUS override;
 * by default the load generators get the last core and the nodes the others; none on a single core.
 */
export const pinning = (() => {
  const cores = availableParallelism();
  const fallback = cores < 2 ? undefined : { loadgen: String(cores - 1), nodes: `0-${cores - 2}` };
  const loadgen = process.env.LOADGEN_CPUS ?? fallback?.loadgen;
  const nodes = process.env.NODE_CPUS ?? fallback?.nodes;
  return loadgen === undefined || nodes === undefined ? undefined : { loadgen, nodes };
})();

/** Pins every thread of `pid` to `cpus` (a taskset list); fails loudly, since an unpinned run measures the wrong thing. */
export function pin(pid: number | undefined, cpus: string): void {
  if (pid === undefined) throw new Error("cannot pin a process that is not running");
  const r = spawnSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`taskset -c ${cpus} ${pid} failed: ${r.stderr || r.error?.message}`);
}

/** What push-sidecars.ts is started with (env PUSH_BENCH_START). */
export interface LoadStart {
  addresses: string[];
  first: number;
  count: number;
  services: number;
  /** A JSON file of service name → sidecar token (sidecarTokens); absent when the nodes check no tokens (in-process). */
  tokensFile?: string;
  /** The nodes' trust bundle (ClusterTarget.caFile): the streams use TLS, as a sidecar's; absent: plain text. */
  caFile?: string;
  /** The simulated sidecars' first-message timeout; absent: a sidecar's default. */
  firstMessageTimeoutMs?: number;
  /** bench:config: every sidecar serves its app this key, and an app watches it over SSE. */
  config?: { service: string; key: string };
}

/** One load-generator process; its answers come in the order the requests were sent. */
export class LoadGenerator<R> {
  readonly child: ChildProcess;
  #pending: ((msg: unknown) => void)[] = [];

  constructor(start: LoadStart) {
    this.child = fork(fileURLToPath(new URL("./push-sidecars.ts", import.meta.url)), {
      env: { ...process.env, PUSH_BENCH_START: JSON.stringify(start) },
    });
    this.child.on("message", (msg) => this.#pending.shift()?.(msg));
    if (pinning !== undefined) pin(this.child.pid, pinning.loadgen);
  }

  next(): Promise<unknown> {
    return new Promise((resolve) => this.#pending.push(resolve));
  }

  /** Sends `cmd` and resolves with the child's answer to it. */
  async ask(cmd: unknown): Promise<unknown> {
    const p = this.next();
    this.child.send(cmd as object);
    return p;
  }

  async report(): Promise<R> {
    return (await this.ask({ report: true })) as R;
  }
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export const now = () => performance.timeOrigin + performance.now();
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The closing table of a bench, as markdown (docs/benchmarks.md takes it as is). */
export function printTable(rows: readonly [string, string][]): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`\n| ${"measure".padEnd(width)} | value |\n|${"-".repeat(width + 2)}|---|\n`);
  for (const [k, v] of rows) process.stdout.write(`| ${k.padEnd(width)} | ${v} |\n`);
}

/**
 * npm run bench:control — a 3-node meshlet control plane (fsync on, 1 s
 * election timeout) side by side with a 3-member etcd (Debian etcd-server,
 * JSON gateway) on loopback: after a 3 s warm-up, writes/s and p50/p99 with
 * 1/16/64 clients (64-byte values), the leader's CPU per write and GC pause
 * time per second at 64 clients, linearizable reads/s, the leader changes
 * seen meanwhile (0 for a valid run), failover (leader kill -9 → first
 * acknowledged write, median of 10; leader frozen by SIGSTOP, median of 5), and
 * the largest node's RSS 5 s and 15 s after writing 100,000 more keys
 * (FILL_KEYS). Needs a built dist/ and `etcd` on PATH.
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { request } from "undici";
import { freePorts, leaderOf, makeCluster, status } from "../controlplane/harness.ts";
import { cpuMs, rssMb } from "../helpers/proc.ts";

const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 5) * 1000;
const WARMUP_MS = 3000;
const VALUE = "v".repeat(64);
const KEYS = 1000;
const FILL_KEYS = Number(process.env.FILL_KEYS ?? 100_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The one HTTP client both systems get. undici's request API, not fetch: fetch cost the bench process
 * ~450 µs of CPU per write, more than a meshlet leader, on the same two cores as the nodes it measured.
 */
async function call(url: string, method: "GET" | "PUT" | "POST", body: string | null, timeoutMs: number, headers = {}) {
  const r = await request(url, { method, body, headers, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  return { status: r.statusCode, text: await r.body.text() };
}

/** The sum of every series of `name` (labelled or not) on one Prometheus endpoint; NaN when it has none. */
async function sumSeries(url: string, name: string): Promise<number> {
  const { text } = await call(url, "GET", null, 2000);
  let sum = Number.NaN;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm")))
    sum = (Number.isNaN(sum) ? 0 : sum) + Number(m[1]);
  return sum;
}

/** The sum over `urls` (Prometheus endpoints) of a counter. */
async function sumCounter(urls: string[], name: string): Promise<number> {
  const values = await Promise.all(urls.map((u) => sumSeries(u, name)));
  return values.reduce((a, b) => a + b, 0);
}

interface System {
  name: string;
  nodes: number;
  put(node: number, key: string, value: string, timeoutMs?: number): Promise<boolean>;
  get(node: number, key: string): Promise<boolean>;
  leader(): Promise<number>;
  kill9(node: number): Promise<void>;
  /** SIGSTOP: the process hangs with its connections open, as a host that went silent. */
  freeze(node: number): void;
  restart(node: number): Promise<void>;
  /** Resident memory of each running node. */
  rssMb(): number[];
  /** Changes of the known leader all nodes have seen, from their Prometheus counters. */
  leaderChanges(): Promise<number>;
  pid(node: number): number | undefined;
  /** Seconds one node's runtime has stopped its program for garbage collection so far, from its own metrics. */
  gcPauseSeconds(node: number): Promise<number>;
  stop(): Promise<void>;
}

function rssOf(pid: number | undefined): number {
  return pid === undefined ? Number.NaN : rssMb(pid);
}

async function meshlet(): Promise<System> {
  const c = await makeCluster(3, ["--log-level", "warn"]);
  for (const n of c.nodes) c.start(n);
  await leaderOf(c.nodes, 60_000);
  const node = (i: number) => {
    const n = c.nodes[i];
    if (n === undefined) throw new Error(`no node ${i}`);
    return n;
  };
  const sys: System = {
    name: "meshlet",
    nodes: 3,
    async put(i, key, value, timeoutMs = 5000) {
      const r = await call(`http://${node(i).http}/v1/config/${key}`, "PUT", value, timeoutMs + 1000, {
        "x-meshlet-timeout": String(timeoutMs),
      });
      return r.status === 200;
    },
    async get(i, key) {
      const r = await call(`http://${node(i).http}/v1/config/${key}`, "GET", null, 5000);
      return r.status === 200 || r.status === 404;
    },
    async leader() {
      const live = c.nodes.filter((n) => n.proc !== undefined);
      const l = await leaderOf(live, 60_000);
      return c.nodes.indexOf(l);
    },
    kill9: (i) => c.kill9(node(i)),
    freeze(i) {
      node(i).proc?.kill("SIGSTOP");
    },
    async restart(i) {
      c.start(node(i));
      await leaderOf(c.nodes, 60_000);
      const lead = await status(node(await sys.leader()));
      for (;;) {
        const s = await status(node(i)).catch(() => undefined);
        if (s !== undefined && s.appliedIndex >= lead.commitIndex) return;
        await sleep(100);
      }
    },
    rssMb: () => c.nodes.map((n) => rssOf(n.proc?.pid)),
    leaderChanges: () =>
      sumCounter(
        c.nodes.map((n) => `http://${n.http}/metrics`),
        "meshlet_raft_leader_changes_total",
      ),
    pid: (i) => node(i).proc?.pid,
    // V8's pauses, by kind (scavenges, mark-compact finalisation, weak callbacks), from prom-client's default metrics.
    gcPauseSeconds: (i) => sumSeries(`http://${node(i).http}/metrics`, "meshlet_nodejs_gc_duration_seconds_sum"),
    stop: () => c.stopAll(),
  };
  return sys;
}

async function etcd(): Promise<System> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "meshlet-bench-etcd-"));
  const ports = await freePorts(6);
  const members = [0, 1, 2].map((i) => ({
    name: `e${i + 1}`,
    client: `http://127.0.0.1:${ports[i * 2]}`,
    peer: `http://127.0.0.1:${ports[i * 2 + 1]}`,
  }));
  const initial = members.map((m) => `${m.name}=${m.peer}`).join(",");
  const procs: (ChildProcess | undefined)[] = [];
  const start = (i: number, state: "new" | "existing") => {
    const m = members[i];
    if (m === undefined) return;
    procs[i] = spawn(
      "etcd",
      [
        "--name",
        m.name,
        "--data-dir",
        path.join(root, m.name),
        "--listen-client-urls",
        m.client,
        "--advertise-client-urls",
        m.client,
        "--listen-peer-urls",
        m.peer,
        "--initial-advertise-peer-urls",
        m.peer,
        "--initial-cluster",
        initial,
        "--initial-cluster-state",
        state,
        "--initial-cluster-token",
        "bench",
        "--election-timeout",
        "1000",
        "--heartbeat-interval",
        "100",
        "--log-level",
        "error",
      ],
      { stdio: "ignore" },
    );
  };
  for (const i of [0, 1, 2]) start(i, "new");
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const post = async (i: number, p: string, body: unknown, timeoutMs = 5000) => {
    const r = await call(`${members[i]?.client}${p}`, "POST", JSON.stringify(body), timeoutMs);
    const j = JSON.parse(r.text) as Record<string, unknown>;
    return { ok: r.status === 200 && j.error === undefined, json: j };
  };
  const sys: System = {
    name: "etcd",
    nodes: 3,
    async put(i, key, value, timeoutMs) {
      return (await post(i, "/v3/kv/put", { key: b64(key), value: b64(value) }, timeoutMs)).ok;
    },
    async get(i, key) {
      return (await post(i, "/v3/kv/range", { key: b64(key) })).ok;
    },
    async leader() {
      for (;;) {
        for (const i of [0, 1, 2]) {
          if (procs[i] === undefined) continue;
          const s = await post(i, "/v3/maintenance/status", {}, 1000).catch(() => undefined);
          const header = s?.json.header as { member_id?: string } | undefined;
          if (s?.ok && header?.member_id !== undefined && header.member_id === s.json.leader) return i;
        }
        await sleep(100);
      }
    },
    async kill9(i) {
      const p = procs[i];
      if (p === undefined) return;
      await new Promise((r) => {
        p.once("exit", r);
        p.kill("SIGKILL");
      });
      procs[i] = undefined;
    },
    freeze(i) {
      procs[i]?.kill("SIGSTOP");
    },
    async restart(i) {
      start(i, "existing");
      for (;;) {
        if (await sys.get(i, "k0").catch(() => false)) return;
        await sleep(100);
      }
    },
    rssMb: () => procs.map((p) => rssOf(p?.pid)),
    leaderChanges: () =>
      sumCounter(
        members.map((m) => `${m.client}/metrics`),
        "etcd_server_leader_changes_seen_total",
      ),
    pid: (i) => procs[i]?.pid,
    // Go's stop-the-world pauses (its marking runs concurrently with the program).
    gcPauseSeconds: (i) => sumSeries(`${members[i]?.client}/metrics`, "go_gc_duration_seconds_sum"),
    async stop() {
      await Promise.all([0, 1, 2].map((i) => sys.kill9(i)));
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  for (;;) {
    if (await sys.put(0, "k0", VALUE).catch(() => false)) break;
    await sleep(200);
  }
  return sys;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

async function load(sys: System, node: number, clients: number, op: "put" | "get", durationMs = DURATION_MS) {
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + durationMs;
  let n = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const key = `k${n++ % KEYS}`;
        const t = performance.now();
        const ok = await (op === "put" ? sys.put(node, key, VALUE) : sys.get(node, key)).catch(() => false);
        if (ok) lat.push(performance.now() - t);
        else errors++;
      }
    }),
  );
  lat.sort((a, b) => a - b);
  return { perSec: (lat.length * 1000) / durationMs, p50: pct(lat, 50), p99: pct(lat, 99), errors };
}

/**
 * Leader lost -> first acknowledged write on another node. "kill": kill -9, so the kernel closes the
 * leader's connections; "freeze": SIGSTOP, so they stay open and only the election timeout tells.
 */
async function failover(sys: System, rounds: number, how: "kill" | "freeze"): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const lead = await sys.leader();
    if (how === "kill") await sys.kill9(lead);
    else sys.freeze(lead);
    const t = performance.now();
    let i = 0;
    for (;;) {
      const target = (lead + 1 + (i++ % (sys.nodes - 1))) % sys.nodes;
      if (await sys.put(target, "failover", VALUE, 300).catch(() => false)) break;
    }
    times.push(performance.now() - t);
    if (how === "freeze") await sys.kill9(lead);
    await sys.restart(lead);
  }
  times.sort((a, b) => a - b);
  return pct(times, 50);
}

/** Writes `count` distinct keys of 64-byte values. */
async function fill(sys: System, node: number, count: number, clients: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count) {
        const key = `fill/k${next++}`;
        while (!(await sys.put(node, key, VALUE).catch(() => false))) await sleep(100);
      }
    }),
  );
}

const benchStart = performance.now();
/** A progress line on stderr (the results go to stdout): the whole bench takes minutes. */
function note(sys: System, what: string): void {
  process.stderr.write(
    `bench:control [${((performance.now() - benchStart) / 1000).toFixed(0)} s] ${sys.name}: ${what}\n`,
  );
}

async function measure(sys: System) {
  const out: Record<string, number> = {};
  const lead = await sys.leader();
  note(sys, `warming up (${WARMUP_MS / 1000} s of writes from 64 clients)`);
  // Both systems run a while before the first point: a node that has served for days has its code compiled
  // (V8 tiers a meshlet node's hot paths up over its first thousands of requests; etcd is compiled ahead).
  await load(sys, lead, 64, "put", WARMUP_MS);
  const changesBefore = await sys.leaderChanges();
  for (const clients of [1, 16, 64]) {
    const pid = sys.pid(lead);
    const cpuBefore = pid === undefined ? Number.NaN : cpuMs(pid);
    const gcBefore = await sys.gcPauseSeconds(lead);
    note(sys, `writes from ${clients} client${clients === 1 ? "" : "s"}`);
    const w = await load(sys, lead, clients, "put");
    note(sys, `${w.perSec.toFixed(0)} writes/s, p99 ${w.p99.toFixed(1)} ms`);
    out[`writes/s c=${clients}`] = w.perSec;
    out[`write p50 ms c=${clients}`] = w.p50;
    out[`write p99 ms c=${clients}`] = w.p99;
    if (clients === 64) {
      // Where the leader's time goes at the point the targets are read: CPU per write, and the pauses that
      // hold every in-flight write at once.
      const writes = (w.perSec * DURATION_MS) / 1000;
      out["leader CPU µs per write c=64"] = pid === undefined ? Number.NaN : ((cpuMs(pid) - cpuBefore) * 1000) / writes;
      out["leader GC pause ms per s c=64"] = ((await sys.gcPauseSeconds(lead)) - gcBefore) * (1e6 / DURATION_MS);
    }
  }
  note(sys, "linearizable reads from 16 clients");
  out["lin. reads/s c=16"] = (await load(sys, lead, 16, "get")).perSec;
  // Every point above went to one leader: a change in between would make them measure a failover instead.
  out["leader changes seen during the points above"] = (await sys.leaderChanges()) - changesBefore;
  note(sys, "failover: the leader killed 10 times, then frozen 5 times");
  out["failover ms, leader kill -9 (median of 10)"] = await failover(sys, 10, "kill");
  out["failover ms, leader frozen by SIGSTOP (median of 5)"] = await failover(sys, 5, "freeze");
  note(sys, `writing ${FILL_KEYS} keys, then reading RSS 5 s and 15 s later`);
  await fill(sys, await sys.leader(), FILL_KEYS, 64);
  // Read twice: V8 gives back the heap a burst grew only once its memory reducer runs, ~10 s into the quiet.
  await sleep(5000);
  out[`RSS MB, largest node, ${FILL_KEYS} keys, 5 s after`] = Math.max(...sys.rssMb());
  await sleep(10_000);
  out[`RSS MB, largest node, ${FILL_KEYS} keys, 15 s after`] = Math.max(...sys.rssMb());
  return out;
}

process.stdout.write(
  `bench:control — ${os.availableParallelism()} CPUs, node ${process.version}, ${DURATION_MS / 1000}s per point after ${WARMUP_MS / 1000}s of writes from 64 clients, clients in this process (undici request), shared machine: rough figures\n`,
);
const results: Record<string, Record<string, number>> = {};
for (const make of [meshlet, etcd]) {
  process.stderr.write(`bench:control: starting a 3-node ${make.name} cluster\n`);
  const sys = await make();
  try {
    results[sys.name] = await measure(sys);
  } finally {
    await sys.stop();
  }
}
const m = results.meshlet ?? {};
const e = results.etcd ?? {};
process.stdout.write(`\n| metric | meshlet | etcd 3.4 | meshlet/etcd |\n|---|---:|---:|---:|\n`);
for (const k of Object.keys(m)) {
  const a = m[k] ?? Number.NaN;
  const b = e[k] ?? Number.NaN;
  // A ratio of two zeros (the leader-change row of a valid run) has no meaning.
  const ratio = b === 0 ? "-" : (a / b).toFixed(2);
  process.stdout.write(`| ${k} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${ratio} |\n`);
}

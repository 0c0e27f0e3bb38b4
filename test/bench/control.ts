/**
 * npm run bench:control — a 3-node meshlet control plane (fsync on, 1 s
 * election timeout) side by side with a 3-member etcd (Debian etcd-server,
 * fsync on, 1 s election timeout) on loopback, both running at once and loaded
 * in turn: every point is ROUNDS interleaved rounds (meshlet, etcd gRPC, etcd
 * gateway, then the reverse, ...) and the table shows medians, because this machine's
 * speed drifts by tens of percent within minutes. meshlet is driven through
 * its native API (HTTP /v1/config, undici, one connection per client) as an
 * admin, with the token its first node wrote to <data-dir>/admin-token; etcd
 * through its native gRPC KV API (the `etcd3` client, one HTTP/2 connection,
 * as etcd's own benchmark tool with --conns=1) and, for one release, through
 * its JSON gateway (undici) as before. Points: writes/s and p50/p99 with
 * 1/16/64 clients (64-byte values), the leader's CPU per write and GC pause
 * time per second at 64 clients, linearizable reads/s, the leader changes seen
 * meanwhile (0 for a valid run), the leader changes over SOAK_S (60) s of
 * writes from 64 clients (spurious elections), failover (leader kill -9 → first acknowledged
 * write, and leader frozen by SIGSTOP; rounds alternate between the systems),
 * and the largest node's RSS 5 s and 15 s after writing FILL_KEYS more keys.
 * A failed request during a point or the fill ends the run with what it was
 * answered, and a 401/403 anywhere does: no figure may count refusals.
 * Needs a built dist/; installs Debian's etcd-server when `etcd` is missing.
 * BENCH_PROFILE=1 runs the three meshlet nodes under `node --cpu-prof` (its figures are then not for the
 * table: the profiler costs a few per cent) and prints each node's self time by file and library at the end;
 * a node restarted after a kill is not profiled, so use it with KILLS=0.
 * BENCH_TLS=0 runs meshlet with `--insecure` (plain HTTP and gRPC, peers unauthenticated; tokens are still
 * checked), as etcd runs here (plain client and peer URLs, no auth): the same transport for both. By default
 * meshlet runs as shipped, with TLS on its API and between its nodes, and etcd in plain text.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { noop } from "cockatiel";
import { Etcd3 } from "etcd3";
import { request } from "undici";
import { freePorts, leaderOf, makeCluster, originOf, status } from "../controlplane/harness.ts";
import { cpuMs, rssMb } from "../helpers/proc.ts";
import { adminTokenFile, readToken } from "../support/control-auth.ts";
import { ensureSystemPackage } from "../support/system-package.ts";
import { summaryTable } from "./profile-summary.ts";

const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 3) * 1000;
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const KILLS = Number(process.env.KILLS ?? 6);
const FREEZES = Number(process.env.FREEZES ?? 4);
const WARMUP_MS = 3000;
const VALUE = "v".repeat(64);
const KEYS = 1000;
const FILL_KEYS = Number(process.env.FILL_KEYS ?? 100_000);
/** The fastest a frozen leader can be replaced by either system (meshlet's leader-loss floor is 400 ms). */
const FREEZE_FLOOR_MS = 200;
/** Seconds of writes from 64 clients per system, counting the leader changes meanwhile (spurious elections). */
const SOAK_S = Number(process.env.SOAK_S ?? 60);
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

/** A Prometheus histogram's count and sum of seconds. */
async function fsyncsOf(url: string, histogram: string): Promise<{ count: number; seconds: number }> {
  const [count, seconds] = await Promise.all([
    sumSeries(url, `${histogram}_count`),
    sumSeries(url, `${histogram}_sum`),
  ]);
  return { count, seconds };
}

/** The sum over `urls` (Prometheus endpoints) of a counter. */
async function sumCounter(urls: string[], name: string): Promise<number> {
  const values = await Promise.all(urls.map((u) => sumSeries(u, name)));
  return values.reduce((a, b) => a + b, 0);
}

interface System {
  name: string;
  /** How the bench talks to it, for the table's header. */
  driver: string;
  nodes: number;
  /** Resolves once the write is acknowledged; rejects with what the system answered otherwise. */
  put(node: number, key: string, value: string, timeoutMs?: number): Promise<void>;
  /** A linearizable read; resolves on an answer (found or not), rejects otherwise. */
  get(node: number, key: string): Promise<void>;
  leader(): Promise<number>;
  kill9(node: number): Promise<void>;
  /** SIGSTOP: the process hangs with its connections open, as a host that went silent. */
  freeze(node: number): void;
  restart(node: number): Promise<void>;
  /** Resident memory of each running node. */
  rssMb(): number[];
  /**
   * Changes of the known leader all nodes have seen, from their Prometheus counters. A follower that forgets
   * its leader and hears it again counts twice without any election; term() tells the two apart.
   */
  leaderChanges(): Promise<number>;
  /** The highest Raft term any running node reports: it rises by one per election. */
  term(): Promise<number>;
  pid(node: number): number | undefined;
  /** Seconds one node's runtime has stopped its program for garbage collection so far, from its own metrics. */
  gcPauseSeconds(node: number): Promise<number>;
  /** One node's WAL fsyncs so far: how many, and the seconds they took, from its own metrics. */
  fsyncs(node: number): Promise<{ count: number; seconds: number }>;
  stop(): Promise<void>;
}

/**
 * A refusal no retry can fix (a missing or unknown token, a forbidden call): it ends the bench at once, even where
 * failures are expected (a failover), since every figure after it would time refusals instead of writes.
 */
class Refused extends Error {}

/** Throws unless `status` is 2xx: a failed request must never be counted as a served one. */
function expect2xx(what: string, r: { status: number; text: string }): void {
  if (r.status >= 200 && r.status < 300) return;
  const message = `${what} answered ${r.status}: ${r.text.slice(0, 200)}`;
  throw r.status === 401 || r.status === 403 ? new Refused(message) : new Error(message);
}

function rssOf(pid: number | undefined): number {
  return pid === undefined ? Number.NaN : rssMb(pid);
}

const TLS = process.env.BENCH_TLS !== "0";
const PROFILE_DIR =
  process.env.BENCH_PROFILE === "1" ? fs.mkdtempSync(path.join(os.tmpdir(), "meshlet-control-prof-")) : undefined;
/** The profiled nodes' ids by pid (their profiles are named after the pid). */
const profiledNodes = new Map<number, string>();

async function meshlet(): Promise<System> {
  const c = await makeCluster(3, ["--log-level", "warn", ...(TLS ? [] : ["--insecure"])]);
  // NODE_OPTIONS is read when a node is spawned: these three only, not the bench or a node restarted later.
  const nodeOptions = process.env.NODE_OPTIONS;
  if (PROFILE_DIR !== undefined) process.env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${PROFILE_DIR}`;
  for (const n of c.nodes) c.start(n);
  if (nodeOptions === undefined) delete process.env.NODE_OPTIONS;
  else process.env.NODE_OPTIONS = nodeOptions;
  for (const n of c.nodes) if (n.proc?.pid !== undefined) profiledNodes.set(n.proc.pid, n.id);
  await leaderOf(c.nodes, 60_000);
  const node = (i: number) => {
    const n = c.nodes[i];
    if (n === undefined) throw new Error(`no node ${i}`);
    return n;
  };
  // The control plane refuses an API call without a token: the bench is an admin, with the token the first
  // founding node wrote to <data-dir>/admin-token, once every node has applied it.
  const token = await waitFor("n1's admin token", async () => readToken(adminTokenFile(node(0).dataDir)));
  const auth = { authorization: `Bearer ${token}` };
  await waitFor("every node to accept the admin token", async () => {
    for (const n of c.nodes) {
      const r = await call(`${originOf(n)}/v1/config/k0`, "GET", null, 2000, auth);
      if (r.status !== 200 && r.status !== 404) return undefined;
    }
    return true;
  });
  const sys: System = {
    name: "meshlet",
    driver: `native HTTP API /v1/config (undici request, a connection per client), ${TLS ? "over TLS, nodes over mTLS, bearer token (as shipped)" : "plain text (--insecure), bearer token"}`,
    nodes: 3,
    async put(i, key, value, timeoutMs = 5000) {
      const r = await call(`${originOf(node(i))}/v1/config/${key}`, "PUT", value, timeoutMs + 1000, {
        ...auth,
        "x-meshlet-timeout": String(timeoutMs),
      });
      expect2xx(`meshlet PUT /v1/config/${key}`, r);
    },
    async get(i, key) {
      const r = await call(`${originOf(node(i))}/v1/config/${key}`, "GET", null, 5000, auth);
      if (r.status !== 404) expect2xx(`meshlet GET /v1/config/${key}`, r);
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
        c.nodes.map((n) => `${originOf(n)}/metrics`),
        "meshlet_raft_leader_changes_total",
      ),
    async term() {
      const live = c.nodes.filter((n) => n.proc !== undefined);
      const terms = await Promise.all(live.map((n) => status(n).then((v) => v.term)));
      return Math.max(...terms);
    },
    pid: (i) => node(i).proc?.pid,
    // V8's pauses, by kind (scavenges, mark-compact finalisation, weak callbacks), from prom-client's default metrics.
    gcPauseSeconds: (i) => sumSeries(`${originOf(node(i))}/metrics`, "meshlet_nodejs_gc_duration_seconds_sum"),
    fsyncs: (i) => fsyncsOf(`${originOf(node(i))}/metrics`, "meshlet_wal_fsync_duration_seconds"),
    stop: () => c.stopAll(),
  };
  return sys;
}

/**
 * One 3-member etcd cluster and two ways to drive it: its native gRPC KV API (`etcd3`, fault handling off so a
 * failed call fails at once as meshlet's do) and its JSON gateway (grpc-gateway: one more hop and a JSON
 * transcoding per request), kept one release for comparison with the figures before it.
 */
async function etcd(): Promise<{ grpc: System; gateway: System }> {
  const bin = await ensureSystemPackage("etcd", "etcd-server");
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
      bin,
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
  // One client per member, so a point loads the member it names (the leader), as meshlet's do.
  const connect = (m: { client: string }) =>
    new Etcd3({ hosts: m.client, faultHandling: { host: () => noop, global: noop }, dialTimeout: 2000 });
  const clients = members.map(connect);
  const client = (i: number) => {
    const c = clients[i];
    if (c === undefined) throw new Error(`no etcd member ${i}`);
    return c;
  };
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const post = async (i: number, p: string, body: unknown, timeoutMs = 5000) => {
    const r = await call(`${members[i]?.client}${p}`, "POST", JSON.stringify(body), timeoutMs);
    const j = JSON.parse(r.text) as Record<string, unknown>;
    return { ok: r.status === 200 && j.error === undefined, json: j, status: r.status, text: r.text };
  };
  /** A gateway call that must succeed: a 200 with no error in its body. */
  const mustPost = async (i: number, p: string, body: unknown, timeoutMs?: number) => {
    const r = await post(i, p, body, timeoutMs);
    if (!r.ok) expect2xx(`etcd gateway POST ${p}`, { status: r.status === 200 ? 500 : r.status, text: r.text });
  };
  const kill9 = async (i: number) => {
    const p = procs[i];
    if (p === undefined) return;
    await new Promise((r) => {
      p.once("exit", r);
      p.kill("SIGKILL");
    });
    procs[i] = undefined;
  };
  const shared = {
    nodes: 3,
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
    kill9,
    freeze(i: number) {
      procs[i]?.kill("SIGSTOP");
    },
    async restart(i: number) {
      start(i, "existing");
      // A fresh channel: grpc-js would otherwise wait out its reconnect back-off to the member it lost.
      const m = members[i];
      if (m !== undefined) {
        clients[i]?.close();
        clients[i] = connect(m);
      }
      for (;;) {
        if (
          await post(i, "/v3/kv/range", { key: b64("k0") }).then(
            (r) => r.ok,
            () => false,
          )
        )
          return;
        await sleep(100);
      }
    },
    rssMb: () => procs.map((p) => rssOf(p?.pid)),
    leaderChanges: () =>
      sumCounter(
        members.map((m) => `${m.client}/metrics`),
        "etcd_server_leader_changes_seen_total",
      ),
    async term() {
      let max = 0;
      for (const i of [0, 1, 2]) {
        if (procs[i] === undefined) continue;
        const st = await post(i, "/v3/maintenance/status", {}, 2000);
        max = Math.max(max, Number(st.json.raftTerm ?? 0));
      }
      return max;
    },
    pid: (i: number) => procs[i]?.pid,
    // Go's stop-the-world pauses (its marking runs concurrently with the program).
    gcPauseSeconds: (i: number) => sumSeries(`${members[i]?.client}/metrics`, "go_gc_duration_seconds_sum"),
    fsyncs: (i: number) => fsyncsOf(`${members[i]?.client}/metrics`, "etcd_disk_wal_fsync_duration_seconds"),
  };
  const grpc: System = {
    ...shared,
    name: "etcd",
    driver: "native gRPC KV API (etcd3 npm client, grpc-js, one HTTP/2 connection per member), plain text, no auth",
    async put(i, key, value, timeoutMs = 5000) {
      await client(i)
        .put(key)
        .value(value)
        .options({ deadline: Date.now() + timeoutMs });
    },
    async get(i, key) {
      // etcd3's range is linearizable unless asked for serializable, as meshlet's default read.
      await client(i)
        .get(key)
        .options({ deadline: Date.now() + 5000 })
        .buffer();
    },
    async stop() {
      for (const c of clients) c.close();
      await Promise.all([0, 1, 2].map(kill9));
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  const gateway: System = {
    ...shared,
    name: "etcd gateway",
    driver: "JSON gateway /v3/kv (undici request, a connection per client); dropped next release",
    put: (i, key, value, timeoutMs) => mustPost(i, "/v3/kv/put", { key: b64(key), value: b64(value) }, timeoutMs),
    get: (i, key) => mustPost(i, "/v3/kv/range", { key: b64(key) }),
    stop: async () => undefined,
  };
  await waitFor("etcd to take a write", () => grpc.put(0, "k0", VALUE).then(() => true));
  return { grpc, gateway };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

/**
 * `clients` closed loops against one node for `durationMs`. Any failed request ends the bench (a throughput
 * point measures served requests; a refused or timed-out one means the run is not what the table says).
 */
async function load(sys: System, node: number, clients: number, op: "put" | "get", durationMs = DURATION_MS) {
  const lat: number[] = [];
  const end = performance.now() + durationMs;
  let n = 0;
  let failed: unknown;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end && failed === undefined) {
        const key = `k${n++ % KEYS}`;
        const t = performance.now();
        try {
          await (op === "put" ? sys.put(node, key, VALUE) : sys.get(node, key));
          lat.push(performance.now() - t);
        } catch (err) {
          failed ??= err;
        }
      }
    }),
  );
  if (failed !== undefined)
    throw new Error(`${sys.name} ${op} c=${clients}: a request failed: ${String(failed)}`, { cause: failed });
  lat.sort((a, b) => a - b);
  return { perSec: (lat.length * 1000) / durationMs, p50: pct(lat, 50), p99: pct(lat, 99) };
}

/** A failover's probe write: false while no node takes writes yet; a Refused is rethrown. */
async function accepted(p: Promise<void>): Promise<boolean> {
  try {
    await p;
    return true;
  } catch (err) {
    if (err instanceof Refused) throw err;
    return false;
  }
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    const v = await fn().catch((err: unknown) => {
      if (err instanceof Refused) throw err;
      last = err;
      return undefined;
    });
    if (v !== undefined) return v;
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}${last === undefined ? "" : `: ${String(last)}`}`);
    await sleep(200);
  }
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
      if (await accepted(sys.put(target, "failover", VALUE, 300))) break;
    }
    const took = performance.now() - t;
    if (how === "freeze") await sys.kill9(lead);
    await sys.restart(lead);
    // No system here gives up on a silent leader in under 400 ms: a write accepted sooner means the stopped node
    // was no longer the leader (leadership moved between the look and the SIGSTOP). Not a failover: again.
    if (how === "freeze" && took < FREEZE_FLOOR_MS) {
      note(`${sys.name}: a write ${took.toFixed(0)} ms after the SIGSTOP: the stopped node was not the leader; again`);
      r--;
      continue;
    }
    times.push(took);
  }
  times.sort((a, b) => a - b);
  return pct(times, 50);
}

/**
 * Writes `count` distinct keys of 64-byte values. The fill only sets up the memory figure, so a write that timed
 * out is written again and counted (the table shows how many); a refusal still ends the run.
 */
async function fill(sys: System, node: number, count: number, clients: number): Promise<number> {
  let next = 0;
  let retried = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count) {
        const key = `fill/k${next++}`;
        while (!(await accepted(sys.put(node, key, VALUE)))) retried++;
      }
    }),
  );
  return retried;
}

const benchStart = performance.now();
/** A progress line on stderr (the results go to stdout): the whole bench takes minutes. */
function note(what: string): void {
  process.stderr.write(`bench:control [${((performance.now() - benchStart) / 1000).toFixed(0)} s] ${what}\n`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return pct(sorted, 50);
}

/**
 * The systems in round `r`'s order: reversed every other round (A B C, C B A, ...), so none always runs right
 * after another's load (a follower still catching up, a GC it left behind) or always first.
 */
function inTurn<T>(systems: readonly T[], r: number): readonly T[] {
  return r % 2 === 0 ? systems : [...systems].reverse();
}

/** Per system, per metric: one value per round. */
type Samples = Map<System, Map<string, number[]>>;

function record(samples: Samples, sys: System, metric: string, value: number): void {
  let bySys = samples.get(sys);
  if (bySys === undefined) {
    bySys = new Map();
    samples.set(sys, bySys);
  }
  const list = bySys.get(metric) ?? [];
  list.push(value);
  bySys.set(metric, list);
}

/** With BENCH_PROFILE=1: when each of meshlet's points ran (its first round), µs on the profiles' clock. */
const pointWindows = new Map<string, [number, number]>();
const monoUs = () => Number(process.hrtime.bigint() / 1000n);
const cpuOf = (pid: number | undefined) => (pid === undefined ? Number.NaN : cpuMs(pid));

/** One round of one throughput point on one system, loading its leader. */
async function point(samples: Samples, sys: System, lead: number, clients: number, op: "put" | "get") {
  const pid = sys.pid(lead);
  const followers = Array.from({ length: sys.nodes }, (_, i) => i).filter((i) => i !== lead);
  const cpuBefore = cpuOf(pid);
  const followersBefore = followers.map((i) => cpuOf(sys.pid(i)));
  const gcBefore = await sys.gcPauseSeconds(lead);
  const fsyncBefore = await sys.fsyncs(lead);
  const from = monoUs();
  const w = await load(sys, lead, clients, op);
  const label = `${op === "put" ? "writes" : "lin. reads"} c=${clients}`;
  if (sys === mesh && !pointWindows.has(label)) pointWindows.set(label, [from, monoUs()]);
  if (op === "get") {
    record(samples, sys, `lin. reads/s c=${clients}`, w.perSec);
    return w;
  }
  record(samples, sys, `writes/s c=${clients}`, w.perSec);
  record(samples, sys, `write p50 ms c=${clients}`, w.p50);
  record(samples, sys, `write p99 ms c=${clients}`, w.p99);
  if (clients === 1) {
    // Where one write's time goes: the leader's own fsync is on its path (in parallel with the follower's).
    const f = await sys.fsyncs(lead);
    const count = f.count - fsyncBefore.count;
    record(samples, sys, "leader fsync ms (mean) c=1", ((f.seconds - fsyncBefore.seconds) * 1000) / count);
    record(samples, sys, "leader fsyncs per write c=1", count / ((w.perSec * DURATION_MS) / 1000));
  }
  // Where the time goes: CPU per write on the leader and on a follower (a lone write's path crosses both).
  const writes = (w.perSec * DURATION_MS) / 1000;
  record(samples, sys, `leader CPU µs per write c=${clients}`, ((cpuOf(pid) - cpuBefore) * 1000) / writes);
  const followerMs = followers.reduce((a, i, k) => a + cpuOf(sys.pid(i)) - (followersBefore[k] ?? Number.NaN), 0);
  record(
    samples,
    sys,
    `follower CPU µs per write c=${clients} (mean)`,
    (followerMs * 1000) / followers.length / writes,
  );
  if (clients === 64) {
    // The pauses that hold every in-flight write at once, at the point the targets are read.
    record(
      samples,
      sys,
      "leader GC pause ms per s c=64",
      ((await sys.gcPauseSeconds(lead)) - gcBefore) * (1e6 / DURATION_MS),
    );
  }
  return w;
}

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return (r.stdout ?? "").split("\n")[0] ?? "?";
}

const pkg = (p: string) => (JSON.parse(fs.readFileSync(p, "utf8")) as { version: string }).version;
process.stderr.write("bench:control: starting a 3-node meshlet cluster and a 3-member etcd cluster\n");
const mesh = await meshlet();
const ec = await etcd();
const systems = [mesh, ec.grpc, ec.gateway];
const samples: Samples = new Map();
let failure: unknown;
try {
  const cpu = os.cpus()[0]?.model ?? "?";
  process.stdout.write(
    [
      `bench:control — ${cpu}, ${os.availableParallelism()} CPUs, load average ${os.loadavg()[0]?.toFixed(1)} at start (shared machine: rough figures)`,
      `versions: node ${process.version}, meshlet ${pkg("package.json")}, ${firstLine("etcd", ["--version"])}, etcd3 ${pkg("node_modules/etcd3/package.json")}`,
      `both clusters: 3 nodes on loopback, fsync on every commit, 1 s election timeout, 64-byte values over ${KEYS} keys; clients in this process`,
      ...systems.map((s) => `${s.name}: ${s.driver}`),
      `each point: ${ROUNDS} rounds of ${DURATION_MS / 1000} s, interleaved (${systems.map((s) => s.name).join(", ")}, then the reverse, ...); medians; after ${WARMUP_MS / 1000} s of writes from 64 clients each`,
      "",
    ].join("\n"),
  );
  const leads = new Map<System, number>();
  for (const sys of systems) {
    leads.set(sys, await sys.leader());
    note(`${sys.name}: warming up`);
    // A node that has served for days has its code compiled (V8 tiers a meshlet node's hot paths up over its
    // first thousands of requests; etcd is compiled ahead).
    await load(sys, leads.get(sys) ?? 0, 64, "put", WARMUP_MS);
  }
  const changesBefore = new Map<System, number>();
  const termsBefore = new Map<System, number>();
  for (const sys of systems) {
    changesBefore.set(sys, await sys.leaderChanges());
    termsBefore.set(sys, await sys.term());
  }
  for (const [clients, op] of [
    [1, "put"],
    [16, "put"],
    [64, "put"],
    [16, "get"],
  ] as const) {
    for (let r = 0; r < ROUNDS; r++) {
      for (const sys of inTurn(systems, r)) {
        const w = await point(samples, sys, leads.get(sys) ?? 0, clients, op);
        note(
          `${sys.name} ${op} c=${clients} round ${r + 1}: ${w === undefined ? "" : `${w.perSec.toFixed(0)}/s p99 ${w.p99.toFixed(1)} ms`}`,
        );
      }
    }
  }
  // Every point above went to one leader: a change in between would make them measure a failover instead.
  for (const sys of systems)
    record(
      samples,
      sys,
      "leader changes seen during the points above",
      (await sys.leaderChanges()) - (changesBefore.get(sys) ?? 0),
    );
  for (const sys of systems)
    record(
      samples,
      sys,
      "elections (term rises) during the points above",
      (await sys.term()) - (termsBefore.get(sys) ?? 0),
    );
  // A live leader under load must keep its place: leader changes over SOAK_S s of writes from 64 clients are
  // spurious elections (a failure detector that took a busy leader for a dead one).
  if (SOAK_S > 0)
    for (const sys of [mesh, ec.grpc]) {
      note(`${sys.name}: ${SOAK_S} s of writes from 64 clients, counting leader changes`);
      const before = await sys.leaderChanges();
      const termBefore = await sys.term();
      const w = await load(sys, leads.get(sys) ?? 0, 64, "put", SOAK_S * 1000);
      record(samples, sys, `leader changes in ${SOAK_S} s of writes at c=64`, (await sys.leaderChanges()) - before);
      record(samples, sys, `elections in ${SOAK_S} s of writes at c=64`, (await sys.term()) - termBefore);
      record(samples, sys, `writes/s over those ${SOAK_S} s`, w.perSec);
    }
  // Failover rounds alternate too; the gateway column shares etcd's cluster, so it has none of its own.
  for (const [how, rounds] of [
    ["kill", KILLS],
    ["freeze", FREEZES],
  ] as const) {
    for (let r = 0; r < rounds; r++) {
      for (const sys of inTurn([mesh, ec.grpc], r)) {
        const label = how === "kill" ? "failover ms, leader kill -9" : "failover ms, leader frozen by SIGSTOP";
        const ms = await failover(sys, 1, how);
        note(`${sys.name}: failover (${how}) round ${r + 1}: ${ms.toFixed(0)} ms`);
        record(samples, sys, `${label} (median of ${rounds})`, ms);
      }
    }
  }
  for (const sys of [mesh, ec.grpc]) {
    note(`${sys.name}: writing ${FILL_KEYS} keys, then reading RSS 5 s and 15 s later`);
    record(
      samples,
      sys,
      `fill writes that timed out and were written again`,
      await fill(sys, await sys.leader(), FILL_KEYS, 64),
    );
    // Read twice: V8 gives back the heap a burst grew only once its memory reducer runs, ~10 s into the quiet.
    await sleep(5000);
    record(samples, sys, `RSS MB, largest node, ${FILL_KEYS} keys, 5 s after`, Math.max(...sys.rssMb()));
    await sleep(10_000);
    record(samples, sys, `RSS MB, largest node, ${FILL_KEYS} keys, 15 s after`, Math.max(...sys.rssMb()));
  }
} catch (err) {
  // What was measured before the failure is printed with it: minutes of rounds are not thrown away.
  failure = err;
} finally {
  await mesh.stop();
  await ec.grpc.stop();
}
const value = (sys: System, k: string) => median(samples.get(sys)?.get(k) ?? []);
const ratio = (a: number, b: number) => (b === 0 || Number.isNaN(a) || Number.isNaN(b) ? "-" : (a / b).toFixed(2));
const fmt = (v: number) => (Number.isNaN(v) ? "-" : v.toFixed(1));
process.stdout.write(
  "| metric (median) | meshlet | etcd gRPC | etcd gateway | meshlet/etcd gRPC | meshlet/etcd gateway |\n|---|---:|---:|---:|---:|---:|\n",
);
for (const k of samples.get(mesh)?.keys() ?? []) {
  const [a, b, c] = systems.map((s) => value(s, k)) as [number, number, number];
  process.stdout.write(`| ${k} | ${fmt(a)} | ${fmt(b)} | ${fmt(c)} | ${ratio(a, b)} | ${ratio(a, c)} |\n`);
}
if (PROFILE_DIR !== undefined) {
  for (const file of fs.readdirSync(PROFILE_DIR).filter((f) => f.endsWith(".cpuprofile"))) {
    const pid = Number(file.split(".")[3]);
    process.stdout.write(
      `\nCPU profile of meshlet node ${profiledNodes.get(pid) ?? `pid ${pid}`} (self time, whole run):\n\n`,
    );
    process.stdout.write(await summaryTable(path.join(PROFILE_DIR, file), 0, 0.01));
    for (const [label, [from, to]] of pointWindows) {
      process.stdout.write(`\n... the same node during meshlet's ${label} (first round):\n\n`);
      process.stdout.write(await summaryTable(path.join(PROFILE_DIR, file), from, 0.02, to));
    }
  }
}
if (failure !== undefined) {
  process.stdout.write(`\nthe run stopped early: ${String(failure)}\n`);
  throw failure;
}

import { request } from "node:http";
import { createServer } from "node:net";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { formatHostPort, type HostPort } from "../common/address.ts";
import { controlAccess, controlFetch, setControlAccess } from "../common/control-access.ts";
import { errorMessage, MeshletError } from "../common/errors.ts";
import { createProgress, type Progress } from "../common/progress.ts";
import { type Child, Children, logTail } from "./children.ts";
import { deregisterStale } from "./deregister.ts";
import {
  controlDataDir,
  type DemoControlNode,
  type DemoInstance,
  type DemoProcess,
  DemoRunningError,
  lockDemo,
  readState,
  writeState,
} from "./state.ts";
import { startTraffic } from "./traffic.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin", "meshlet.js");
const APP = path.join(ROOT, "examples", "demo", "app.ts");
export const DEMO_RESOURCES = path.join(ROOT, "examples", "demo", "mesh.yaml");

/** The namespace of the accounts examples/demo/mesh.yaml lists (the Kubernetes sample app's namespace). */
const DEMO_NAMESPACE = "meshlet-demo";

/** The demo's app instances: a caller, three instances of reviews in two versions, and their dependency. */
const TOPOLOGY = [
  { name: "web", service: "web", version: "v1" },
  { name: "reviews-v1-a", service: "reviews", version: "v1" },
  { name: "reviews-v1-b", service: "reviews", version: "v1" },
  { name: "reviews-v2", service: "reviews", version: "v2" },
  { name: "ratings", service: "ratings", version: "v1" },
] as const;

const START_TIMEOUT_MS = 60_000;

export interface DemoOptions {
  dir: string;
  http: HostPort;
  grpc: HostPort;
  /** web's sidecar outbound listener: where the printed curl commands go. */
  outbound: HostPort;
  /** Requests per second of the traffic generator (0: none). */
  rate: number;
  /** Control-plane nodes (1, 3 or 5): n1 on http/grpc, the others on free ports. */
  controlNodes?: number;
  out: NodeJS.WriteStream | NodeJS.WritableStream;
}

/**
 * `meshlet demo`: a control-plane node, the demo's apps each behind its own sidecar, its resources, and a
 * light load; then it waits for Ctrl-C (or SIGTERM) and stops everything it started, sidecars first (they
 * deregister), the control plane last. Resolves with the exit code.
 */
export async function runDemo(o: DemoOptions): Promise<number> {
  const startedAt = performance.now();
  let release: () => void;
  try {
    release = lockDemo(o.dir);
  } catch (err) {
    if (!(err instanceof DemoRunningError)) throw err;
    const running = readState(o.dir);
    const dashboard = running === undefined ? "" : `, dashboard https://${running.http}/`;
    process.stderr.write(`meshlet demo is already running (pid ${err.pid}${dashboard}); Ctrl-C there stops it\n`);
    return 1;
  }
  const progress = createProgress(o.out, "meshlet demo: ");
  const children = new Children(path.join(o.dir, "logs"));
  let stopRequested: (reason: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => {
    stopRequested = resolve;
  });
  const onSignal = (signal: NodeJS.Signals) => stopRequested(signal);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let failure: string | undefined;
  children.onUnexpectedExit((child, code, signal) => {
    // A mesh outlives a control-plane node or an app that dies (drills kill them; `meshlet drill` heals them):
    // only a sidecar's exit, or the last control node's, ends the demo.
    if (child.name.startsWith("app-") || (child.name.startsWith("control-") && (o.controlNodes ?? 1) > 1)) {
      o.out.write(`meshlet demo: ${child.name} exited (${signal ?? `code ${code}`})\n`);
      return;
    }
    failure = `${child.name} exited (${signal ?? `code ${code}`}); its log, ${child.log}:\n${logTail(child.log)}`;
    stopRequested("failure");
  });
  let traffic: { stop(): void } | undefined;
  let token = "";
  try {
    await Promise.all([portFree(o.http, "--http"), portFree(o.grpc, "--grpc"), portFree(o.outbound, "--outbound")]);
    const instances = await assignPorts(o);
    const controls = await controlNodes(o);
    const up = Promise.race([
      startAll(o, instances, controls, children, progress).then((t) => {
        token = t;
      }),
      stopped.then((reason) => {
        throw new MeshletError("ERR_STOPPED", reason === "failure" ? (failure ?? reason) : `stopped by ${reason}`);
      }),
    ]);
    await up;
    writeState(o.dir, {
      pid: process.pid,
      http: formatHostPort(o.http),
      grpc: formatHostPort(o.grpc),
      instances,
      controls,
      caFile: path.resolve(controlFiles(o).ca),
      processes: processesOf(children),
    });
    traffic = startTraffic(instances[0]?.inbound ?? "", o.rate);
    progress.close();
    o.out.write(readyMessage(o, (performance.now() - startedAt) / 1000, token));
    // Its children are unref'd and --rate 0 runs no timer: without this handle the demo would exit at once.
    const keepAlive = setInterval(() => {}, 60_000);
    const reason = await stopped.finally(() => clearInterval(keepAlive));
    if (reason === "failure") throw new MeshletError("ERR_DEMO_FAILED", failure ?? "a demo process exited");
    return 0;
  } catch (err) {
    progress.close();
    process.stderr.write(`meshlet demo: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    traffic?.stop();
    o.out.write("meshlet demo: stopping…\n");
    stopRestarted(o.dir, children);
    await children.stop([(c) => !c.name.startsWith("control")]);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    release();
    o.out.write("meshlet demo: stopped\n");
  }
}

/** Where the demo's control plane keeps its admin token (n1's, a founding node's) and its CA bundle. */
export function controlFiles(o: DemoOptions): { token: string; ca: string } {
  const dir = controlDataDir(o.dir, o.controlNodes ?? 1, "n1");
  return { token: path.join(dir, "admin-token"), ca: path.join(dir, "ca.pem") };
}

/** Starts everything; resolves with the admin token the demo's control plane made (its sidecars and calls use it). */
async function startAll(
  o: DemoOptions,
  instances: DemoInstance[],
  controls: DemoControlNode[],
  children: Children,
  progress: Progress,
): Promise<string> {
  const server = `https://${formatHostPort(o.http)}`;
  const grpc = controls.map((c) => c.grpc).join(",");
  const control = progress.step(controls.length === 1 ? "control plane" : `control plane (${controls.length} nodes)`);
  for (const c of controls) {
    const multi = controls.length > 1;
    children.spawn(multi ? `control-${c.id}` : "control", [
      BIN,
      "control",
      "--id",
      c.id,
      "--data-dir",
      controlDataDir(o.dir, controls.length, c.id),
      "--grpc",
      c.grpc,
      "--http",
      c.http,
      // Several nodes: elections within a second, as drills expect of a leader loss.
      ...(multi ? ["--peers", controls.map((n) => `${n.id}=${n.grpc}`).join(","), "--tick-ms", "50"] : []),
    ]);
  }
  const { readFile } = await import("node:fs/promises");
  // Written before the node listens; on a later run of the same --dir it is already there.
  const token = await waitFor("the admin token", async () => (await readFile(controlFiles(o).token, "utf8")).trim());
  const auth = { authorization: `Bearer ${token}` };
  // The control plane serves TLS under the mesh CA, whose bundle a node writes once the CA is applied.
  const caFile = path.resolve(controlFiles(o).ca);
  await waitFor("the mesh CA (ca.pem)", async () => readFile(caFile, "utf8"));
  setControlAccess({ ...controlAccess(), caFile });
  const apps = progress.step(`${instances.length} apps`);
  const appsUp = instances.map((i) => {
    children.spawn(`app-${i.name}`, [APP], {
      SERVICE: i.service,
      VERSION: i.version,
      INSTANCE: i.name,
      PORT: String(i.appPort),
      MESH: i.outbound,
    });
    return waitFor(`${i.name} on port ${i.appPort}`, () => httpGet(`http://127.0.0.1:${i.appPort}/healthz`));
  });
  const sidecars = progress.step(`${instances.length} sidecars`);
  const sidecarsUp = instances.map((i) => {
    spawnSidecar(children, i, grpc, token, caFile);
    return waitFor(`${i.name}'s sidecar`, () => httpGet(`http://${i.admin}/ready`));
  });
  void Promise.all(appsUp).then(() => apps.done(instances.map((i) => i.name).join(", ")));

  const leader = await waitFor("a control-plane leader", async () => {
    const res = await controlFetch(`${server}/v1/cluster`, { headers: auth, signal: AbortSignal.timeout(3_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const body = (await res.json()) as { leader: string };
    if (body.leader === "") throw new Error("no leader yet");
    return body.leader;
  });
  control.done(`${leader} leading, ${server}`);
  const resources = progress.step("resources");
  const applied = await applyResources(server, auth);
  resources.done(applied);
  await deregisterStale(
    server,
    grpc,
    ["web", "reviews", "ratings"],
    new Set(instances.map((i) => i.name)),
    token,
    caFile,
  );
  await Promise.all([...appsUp, ...sidecarsUp]);
  // Ready means every sidecar has every endpoint: the first requests never meet a partial mesh.
  await Promise.all(
    instances.map((i) =>
      waitFor(`${i.name}'s sidecar to see every endpoint`, async () => {
        const view = JSON.parse(await httpGet(`http://${i.admin}/endpoints`)) as {
          services: Record<string, { endpoints: unknown[] }>;
        };
        const count = (s: string) => view.services[s]?.endpoints.length ?? 0;
        if (count("web") !== 1 || count("reviews") !== 3 || count("ratings") !== 1)
          throw new Error(`sees web ${count("web")}, reviews ${count("reviews")}, ratings ${count("ratings")}`);
      }),
    ),
  );
  sidecars.done("registered, every endpoint known");
  const first = progress.step("a first request through the mesh");
  const outbound = formatHostPort(o.outbound);
  await waitFor("a request from web's sidecar to reviews", async () => {
    const body = JSON.parse(await httpGet(`http://${outbound}/api/reviews/1`, "reviews")) as {
      instance?: string;
      ratings?: { ratings?: unknown };
    };
    if (body.ratings?.ratings === undefined) throw new Error("no ratings in the answer");
    return body.instance;
  }).then((instance) => first.done(`web → ${instance} → ratings`));
  return token;
}

/** n1 on --grpc/--http; the other nodes on free ports. */
async function controlNodes(o: DemoOptions): Promise<DemoControlNode[]> {
  const nodes: DemoControlNode[] = [{ id: "n1", grpc: formatHostPort(o.grpc), http: formatHostPort(o.http) }];
  for (let i = 2; i <= (o.controlNodes ?? 1); i++)
    nodes.push({ id: `n${i}`, grpc: `127.0.0.1:${await freePort()}`, http: `127.0.0.1:${await freePort()}` });
  return nodes;
}

/** The control nodes and apps, as drills find them in demo.json: by node id, by instance name. */
function processesOf(children: Children): DemoProcess[] {
  const out: DemoProcess[] = [];
  for (const c of children.all) {
    const pid = c.proc.pid;
    if (pid === undefined) continue;
    const name = c.name === "control" ? "n1" : c.name.replace(/^control-|^app-/, "");
    if (c.name.startsWith("control") || c.name.startsWith("app-"))
      out.push({ name, pid, args: c.args, env: c.env, log: c.log });
  }
  return out;
}

/** Processes a drill restarted (`heal`) are not the demo's children: they stop with it all the same. */
function stopRestarted(dir: string, children: Children): void {
  const own = new Set(children.pids());
  for (const p of readState(dir)?.processes ?? []) {
    if (own.has(p.pid)) continue;
    try {
      process.kill(p.pid, "SIGCONT");
      process.kill(p.pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
}

function spawnSidecar(children: Children, i: DemoInstance, grpc: string, token: string, caFile: string): Child {
  // The token goes by environment, not argv: other users of the machine can read a process's arguments.
  return children.spawn(
    `sidecar-${i.name}`,
    [
      BIN,
      "sidecar",
      "--service",
      i.service,
      "--labels",
      `version=${i.version}`,
      "--instance",
      i.name,
      // The account examples/demo/mesh.yaml lists for the service (as in the Kubernetes sample app): its identity.
      "--namespace",
      DEMO_NAMESPACE,
      "--service-account",
      i.service,
      "--app-port",
      String(i.appPort),
      "--control",
      grpc,
      "--outbound",
      i.outbound,
      "--inbound",
      i.inbound,
      "--admin",
      i.admin,
      // Nothing calls the demo from outside: stop at once.
      "--drain-delay",
      "0",
    ],
    { MESHLET_TOKEN: token, MESHLET_CA_FILE: caFile },
  );
}

async function applyResources(server: string, auth: Record<string, string>): Promise<string> {
  const { readFile } = await import("node:fs/promises");
  const body = await readFile(DEMO_RESOURCES, "utf8");
  return waitFor("the resources to be applied", async () => {
    const res = await controlFetch(`${server}/v1/apply`, {
      method: "POST",
      headers: { "content-type": "application/yaml", ...auth },
      body,
      signal: AbortSignal.timeout(5_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${text}`);
    const out = JSON.parse(text) as { results: { kind: string; name: string; action: string }[] };
    const changed = out.results.filter((r) => r.action !== "unchanged").length;
    return `${out.results.length} from ${path.relative(process.cwd(), DEMO_RESOURCES)} (${changed} changed)`;
  });
}

/** Ports of the last run when they are free: a second run looks like the first (addresses in the dashboard). */
async function assignPorts(o: DemoOptions): Promise<DemoInstance[]> {
  const previous = readState(o.dir)?.instances ?? [];
  const taken = new Set([o.http.port, o.grpc.port, o.outbound.port]);
  const port = async (wanted: number | undefined): Promise<number> => {
    if (wanted !== undefined && !taken.has(wanted) && (await isFree(wanted))) {
      taken.add(wanted);
      return wanted;
    }
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) {
        taken.add(p);
        return p;
      }
    }
  };
  const portOf = (address: string | undefined) =>
    address === undefined ? undefined : Number(address.slice(address.lastIndexOf(":") + 1));
  const out: DemoInstance[] = [];
  for (const t of TOPOLOGY) {
    const before = previous.find((p) => p.name === t.name);
    const outbound =
      t.name === "web" ? formatHostPort(o.outbound) : `127.0.0.1:${await port(portOf(before?.outbound))}`;
    out.push({
      ...t,
      appPort: await port(before?.appPort),
      outbound,
      inbound: `127.0.0.1:${await port(portOf(before?.inbound))}`,
      admin: `127.0.0.1:${await port(portOf(before?.admin))}`,
    });
  }
  return out;
}

async function portFree(at: HostPort, flag: string): Promise<void> {
  if (!(await isFree(at.port, at.host)))
    throw new MeshletError(
      "ERR_PORT_IN_USE",
      `${formatHostPort(at)} is in use (another meshlet?): stop what listens there, or give meshlet demo ${flag} HOST:PORT`,
    );
}

function isFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const p = typeof a === "object" && a !== null ? a.port : 0;
      s.close(() => resolve(p));
    });
  });
}

/** GET with a Host header (fetch cannot set one); rejects unless 200. */
export function httpGet(url: string, host?: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const all = host === undefined ? headers : { ...headers, host };
    const req = request(url, { headers: all, timeout: 3_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode === 200) resolve(text);
        else reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });
}

async function waitFor<T>(what: string, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = "";
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      last = errorMessage(err);
    }
    if (Date.now() > deadline)
      throw new MeshletError(
        "ERR_DEMO_TIMEOUT",
        `gave up waiting for ${what} after ${START_TIMEOUT_MS / 1000} s: ${last}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The block printed once the demo is up; every command in it is meant to be copied as it is. */
export function readyMessage(o: DemoOptions, seconds: number, token: string): string {
  const files = controlFiles(o);
  const outbound = formatHostPort(o.outbound);
  const server = formatHostPort(o.http);
  const serverFlag = server === "127.0.0.1:15014" ? "" : ` --server https://${server}`;
  const dirFlag = o.dir === ".meshlet/demo" ? "" : ` --dir ${o.dir}`;
  const curl = (headers: string) => `curl -s -H 'Host: reviews'${headers} http://${outbound}/api/reviews/1`;
  return `
meshlet demo is up in ${seconds.toFixed(1)} s: a control-plane node, web, reviews v1 ×2 and v2 ×1 and ratings,
each behind its own sidecar, with ${o.rate} requests/s of traffic.

  Dashboard  https://${server}/#token=${token}
    (the browser does not know the mesh CA: accept its certificate, or import ${files.ca})
  Admin token ${token}
    (also in ${files.token})
  Mesh CA ${files.ca}
    export MESHLET_TOKEN=$(cat ${files.token})
    export MESHLET_CA_FILE=${files.ca}
  Call reviews through web's sidecar, as web does:
    ${curl("")}
  The mesh from the command line:
    npx meshlet status${serverFlag} --token "$(cat ${files.token})" --ca-file ${files.ca}

Try this:
  1. Canary by header: x-canary: true always reaches reviews v2.
    ${curl(" -H 'x-canary: true'")}
  2. Stickiness: each user stays on one reviews instance (maglev hashing on x-user-id).
    for u in alice alice alice bob bob bob; do curl -s -H 'Host: reviews' -H "x-user-id: $u" http://${outbound}/whoami; done
  3. Break ratings: within seconds its breaker opens (dashboard) and reviews gets the fallback ("degraded":true).
    npx meshlet demo fail ratings${dirFlag}
    ${curl("")}
    npx meshlet demo heal ratings${dirFlag}

Logs and data: ${o.dir}. Ctrl-C stops everything.
`;
}

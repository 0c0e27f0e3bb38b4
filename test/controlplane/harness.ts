import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import { createServer } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { ClusterView } from "../../src/cli/commands/cluster.ts";
import { startCli, stopProcess } from "../helpers/cli.ts";
import { adminTokenFile, authorizeControlPlane } from "../support/control-auth.ts";

/** Ports that were free a moment ago (the OS picks them; never the default ports). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => {
      const s = createServer();
      return new Promise<ReturnType<typeof createServer>>((resolve) => s.listen(0, "127.0.0.1", () => resolve(s)));
    }),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    return typeof a === "object" && a !== null ? a.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export interface ControlProc {
  id: string;
  grpc: string;
  http: string;
  /** "http" for a node started with --insecure; https when absent. */
  scheme?: "http" | "https";
  dataDir: string;
  proc: ChildProcess | undefined;
  log: string[];
}

export interface Cluster {
  nodes: ControlProc[];
  root: string;
  peers: string;
  /** Extra flags every node gets. */
  flags: string[];
  start(node: ControlProc, extra?: string[]): void;
  kill9(node: ControlProc): Promise<void>;
  stopAll(): Promise<void>;
}

export const FAST_FLAGS = ["--tick-ms", "50", "--election-ticks", "10", "--log-level", "warn"];

/** `n` nodes on free ports with their own data dirs; `peerAddress` lets a test put a proxy between peers. */
export async function makeCluster(
  n: number,
  flags: string[] = FAST_FLAGS,
  peerAddress: (node: ControlProc) => string = (node) => node.grpc,
): Promise<Cluster> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "meshlet-control-"));
  const ports = await freePorts(n * 2);
  const scheme = flags.includes("--insecure") ? "http" : "https";
  const nodes: ControlProc[] = Array.from({ length: n }, (_, i) => ({
    id: `n${i + 1}`,
    scheme,
    grpc: `127.0.0.1:${ports[i * 2]}`,
    http: `127.0.0.1:${ports[i * 2 + 1]}`,
    dataDir: path.join(root, `n${i + 1}`),
    proc: undefined,
    log: [],
  }));
  const cluster: Cluster = {
    nodes,
    root,
    flags,
    peers: "",
    start(node, extra = ["--peers", cluster.peers]) {
      const proc = startCli([
        "control",
        "--id",
        node.id,
        "--data-dir",
        node.dataDir,
        "--grpc",
        node.grpc,
        "--http",
        node.http,
        ...extra,
        ...flags,
      ]);
      proc.stdout?.on("data", (d: Buffer) => node.log.push(d.toString()));
      proc.stderr?.on("data", (d: Buffer) => node.log.push(d.toString()));
      node.proc = proc;
    },
    async kill9(node) {
      const proc = node.proc;
      if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
      await new Promise((r) => {
        proc.once("exit", r);
        proc.kill("SIGKILL");
      });
      node.proc = undefined;
    },
    async stopAll() {
      await Promise.all(nodes.map((node) => (node.proc === undefined ? undefined : stopProcess(node.proc, 8_000))));
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  cluster.peers = nodes.map((node) => `${node.id}=${peerAddress(node)}`).join(",");
  // Every node of the cluster takes the first founding node's admin token (one token, any member).
  const tokenFile = adminTokenFile(nodes[0]?.dataDir ?? root);
  for (const node of nodes) authorizeControlPlane(originOf(node), tokenFile);
  return cluster;
}

/** The node's HTTP API origin: https unless it was started with --insecure. */
export function originOf(node: ControlProc): string {
  return `${node.scheme ?? "https"}://${node.http}`;
}

export async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}${last === undefined ? "" : `: ${String(last)}`}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export type ClusterStatus = ClusterView;

export async function status(node: ControlProc): Promise<ClusterStatus> {
  const res = await fetch(`${originOf(node)}/v1/cluster`, { signal: AbortSignal.timeout(2_000) });
  return (await res.json()) as ClusterStatus;
}

/** Waits until every given (running) node names the same leader; returns it. */
export async function leaderOf(nodes: ControlProc[], ms = 30_000): Promise<ControlProc> {
  return until(
    "one leader",
    async () => {
      const all = await Promise.all(nodes.map(status));
      const lead = all[0]?.leader;
      if (lead === undefined || lead === "" || !all.every((s) => s.leader === lead)) return undefined;
      return nodes.find((node) => node.id === lead);
    },
    ms,
  );
}

export function put(
  node: ControlProc,
  key: string,
  value: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${originOf(node)}/v1/config/${key}`, {
    method: "PUT",
    body: value,
    headers,
    signal: AbortSignal.timeout(10_000),
  });
}

export function get(node: ControlProc, key: string, stale = false): Promise<Response> {
  return fetch(`${originOf(node)}/v1/config/${key}${stale ? "?consistency=stale" : ""}`, {
    signal: AbortSignal.timeout(10_000),
  });
}

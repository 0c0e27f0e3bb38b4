import * as fs from "node:fs";
import * as path from "node:path";
import { MeshletError } from "../common/errors.ts";

/** One app instance of the demo and its sidecar's listeners. */
export interface DemoInstance {
  name: string;
  service: string;
  version: string;
  appPort: number;
  outbound: string;
  inbound: string;
  admin: string;
}

/**
 * A process of the demo a drill may kill, stop and restart (`meshlet drill`):
 * how it was started, so `heal` can start it again the same way.
 */
export interface DemoProcess {
  name: string;
  pid: number;
  /** node's arguments (the script first). */
  args: string[];
  env: Record<string, string>;
  log: string;
}

/** A control-plane node of the demo. */
export interface DemoControlNode {
  id: string;
  grpc: string;
  http: string;
}

/** What a running demo writes to <dir>/demo.json: for `meshlet demo fail|heal`, and for the next run's ports. */
export interface DemoState {
  pid: number;
  http: string;
  grpc: string;
  instances: DemoInstance[];
  /** Every control-plane node (absent in a state file of an older demo: one node at http/grpc). */
  controls?: DemoControlNode[];
  /** The mesh CA the control plane's TLS certificate chains to (absent: an older demo, plain HTTP). */
  caFile?: string;
  /** Control-plane nodes (by node id) and apps (by instance name): what drills kill and heal. */
  processes?: DemoProcess[];
}

export const STATE_FILE = "demo.json";
const LOCK_FILE = "demo.lock";

/** A demo already runs on this directory. */
export class DemoRunningError extends MeshletError {
  readonly pid: number;
  constructor(pid: number, message: string) {
    super("ERR_DEMO_RUNNING", message);
    this.name = "DemoRunningError";
    this.pid = pid;
  }
}

export function readState(dir: string): DemoState | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, STATE_FILE), "utf8")) as DemoState;
  } catch {
    return undefined;
  }
}

export function writeState(dir: string, state: DemoState): void {
  const file = path.join(dir, STATE_FILE);
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pid of the demo running on `dir`, if one does. */
export function runningDemo(dir: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(path.join(dir, LOCK_FILE), "utf8"), 10);
    return Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One demo per directory: a lock file made with O_EXCL holds the owner's pid; one left by a demo that died
 * is taken over. Returns the release function.
 */
export function lockDemo(dir: string): () => void {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
      return () => {
        try {
          if (fs.readFileSync(file, "utf8").trim() === String(process.pid)) fs.rmSync(file, { force: true });
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const pid = runningDemo(dir);
    if (pid !== undefined) throw new DemoRunningError(pid, `a demo runs in ${dir} (pid ${pid})`);
    fs.rmSync(file, { force: true });
  }
  throw new MeshletError("ERR_DEMO_RUNNING", `${dir}: another demo took the lock while this one started`);
}

/** A demo control node's data dir: `control` for one node alone, `control-<n>/<id>` in a cluster of n. */
export function controlDataDir(dir: string, nodes: number, id: string): string {
  return nodes > 1 ? path.join(dir, `control-${nodes}`, id) : path.join(dir, "control");
}

/** The admin token a demo's control plane wrote (n1's, a founding node's): what drills and printed commands use. */
export function adminTokenFile(dir: string, nodes: number): string {
  return path.join(controlDataDir(dir, nodes, "n1"), "admin-token");
}

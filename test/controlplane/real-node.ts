import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { silentLogger } from "../../src/common/logger.ts";
import { type ControlOptions, clusterIdFor, type RunningControl, startControl } from "../../src/controlplane/run.ts";
import { setRawTlsCa } from "../helpers/raw-http.ts";
import { adminTokenFile, authorizeControlPlane, readToken } from "../support/control-auth.ts";
import { until } from "./harness.ts";

export interface RealNode {
  running: RunningControl;
  httpPort: number;
  dataDir: string;
  base: string;
  clusterId: string;
  /** The node's admin token (every fetch to `base` carries it unless it sets its own Authorization). */
  token(): string;
  stop(): Promise<void>;
}

/**
 * One real `meshlet control` node in this process: the real Raft loop, WAL,
 * HTTP server and route modules, on ports the OS picks. Stopped and its data
 * dir removed when the test `t` ends (or by stop()).
 */
export async function startRealNode(
  t: { after: (fn: () => Promise<void> | void) => void } | undefined,
  extra: Partial<ControlOptions> = {},
): Promise<RealNode> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "meshlet-real-"));
  const dataDir = extra.dataDir ?? path.join(root, "data");
  const running = await startControl(
    {
      id: "n1",
      dataDir,
      grpc: { host: "127.0.0.1", port: 0 },
      http: { host: "127.0.0.1", port: 0 },
      peers: new Map([["n1", "127.0.0.1:0"]]),
      join: false,
      tickMs: 20,
      electionTicks: 10,
      snapshotEvery: 10_000,
      snapshotKeep: 1_000,
      logger: silentLogger(),
      ...extra,
    },
    clusterIdFor(["n1"]),
  );
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await running.shutdown();
    fs.rmSync(root, { recursive: true, force: true });
  };
  t?.after(stop);
  await until("the node leads", async () => (running.node.isLeader() ? true : undefined), 10_000);
  // The node settles before a test reads its revision: the mesh CA and the admin token are its first entries.
  await until(
    "the mesh CA is loaded and its bundle written",
    async () =>
      running.security.current() !== undefined && fs.existsSync(path.join(dataDir, "ca.pem")) ? true : undefined,
    10_000,
  );
  const base = `https://127.0.0.1:${running.httpPort}`;
  authorizeControlPlane(base, adminTokenFile(dataDir));
  // Raw requests (hostile clients) speak TLS to it too.
  setRawTlsCa(fs.readFileSync(path.join(dataDir, "ca.pem")));
  await until(
    "the admin token is applied",
    async () => {
      const res = await fetch(`${base}/v1/cluster?consistency=stale`, { signal: AbortSignal.timeout(2_000) });
      return res.ok ? true : undefined;
    },
    10_000,
  );
  return {
    running,
    httpPort: running.httpPort,
    dataDir,
    base,
    token: () => readToken(adminTokenFile(dataDir)) ?? "",
    clusterId: clusterIdFor(["n1"]),
    stop,
  };
}

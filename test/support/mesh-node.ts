import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import type { TestContext } from "node:test";
import { type Cluster, type ControlProc, FAST_FLAGS, makeCluster, until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { type RunningSidecar, send, type Upstream } from "../sidecar/helpers.ts";

/** A one-node control plane for the tests of a secured mesh (mTLS sidecars, identities, policies). */
export interface MeshNode {
  cluster: Cluster;
  node: ControlProc;
  /** The trust bundle the node wrote to <data-dir>/ca.pem at its first start. */
  bundle: string;
  /** `meshlet apply -f -` through the real CLI; a non-zero exit fails the test. */
  apply(yaml: string): Promise<void>;
  /** A sidecar or app stopped after the test (sidecars first, then the node, then apps). */
  own<T extends RunningSidecar | Upstream>(x: T): T;
}

/**
 * Starts the node (with `args`, which may write files under the cluster's root first) and waits for its trust
 * bundle; everything it owns is stopped after the test, whatever the outcome. `flags` come last (e.g. another
 * --log-level than the harness's warn).
 */
export async function startMeshNode(
  t: TestContext,
  args: (root: string) => Promise<string[]> | string[] = () => [],
  flags: string[] = FAST_FLAGS,
): Promise<MeshNode> {
  const cluster = await makeCluster(1, flags);
  const [node] = cluster.nodes;
  assert.ok(node);
  const sidecars: RunningSidecar[] = [];
  const apps: Upstream[] = [];
  t.after(async () => {
    await Promise.all(sidecars.map((s) => s.stop()));
    await cluster.stopAll();
    await Promise.all(apps.map((a) => a.close()));
  });
  cluster.start(node, await args(cluster.root));
  const bundle = await until("the control plane wrote its trust bundle", () =>
    readFile(`${node.dataDir}/ca.pem`, "utf8").then(
      (pem) => (pem.includes("BEGIN CERTIFICATE") ? pem : undefined),
      () => undefined,
    ),
  );
  return {
    cluster,
    node,
    bundle,
    async apply(yaml) {
      const applied = await runCli(["apply", "-f", "-", "--server", `https://${node.http}`], { input: yaml });
      assert.equal(applied.code, 0, applied.stderr);
    },
    own(x) {
      if ("stop" in x) sidecars.push(x);
      else apps.push(x);
      return x;
    },
  };
}

/** Waits until `from` gets a 200 for `host` (a failure names both sidecars' logs). */
export async function untilReaches(
  from: RunningSidecar,
  host: string,
  path: string,
  to: RunningSidecar,
): Promise<void> {
  await until(`${host} answers through the sidecars`, async () => {
    const r = await send(from.outbound, { headers: { host }, path });
    return r.status === 200 ? r : undefined;
  }).catch((err: unknown) => {
    throw new Error(`${String(err)}\ncaller:\n${from.logs()}\n${host}:\n${to.logs()}`);
  });
}

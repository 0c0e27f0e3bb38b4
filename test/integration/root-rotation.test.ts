import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { createRootCa } from "../../src/security/ca.ts";
import { makeCluster, until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { type RunningSidecar, send, startSidecar, startUpstream, type Upstream } from "../sidecar/helpers.ts";

const MESH = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
spec: {}
---
apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{destinations: [{service: reviews}], timeout: 2s}]
`;

/** The certificate reviews' inbound port presents (ca: the bundle); undefined when the handshake lost the race. */
function inboundCert(port: number, ca: string): Promise<X509Certificate | undefined> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: "127.0.0.1", port, ca, checkServerIdentity: () => undefined }, () => {
      const raw = s.getPeerCertificate().raw;
      s.destroy();
      resolve(raw === undefined ? undefined : new X509Certificate(raw));
    });
    s.on("error", () => resolve(undefined));
  });
}

test("root rotation under load: the bundle carries both roots, certificates are re-issued under the new one, no request fails", async (t) => {
  const cluster = await makeCluster(1);
  const [node] = cluster.nodes;
  assert.ok(node);
  const sidecars: RunningSidecar[] = [];
  let app: Upstream | undefined;
  t.after(async () => {
    await Promise.all(sidecars.map((s) => s.stop()));
    await cluster.stopAll();
    await app?.close();
  });
  const now = Date.now();
  const [oldCa, newCa] = await Promise.all([
    createRootCa("cluster.local", { now, ttlMs: 86_400_000 }),
    createRootCa("cluster.local", { now, ttlMs: 86_400_000 }),
  ]);
  const files = async (name: string, m: { certChainPem: string; keyPem: string }) => {
    const cert = join(cluster.root, `${name}.pem`);
    const key = join(cluster.root, `${name}-key.pem`);
    await writeFile(cert, m.certChainPem);
    await writeFile(key, m.keyPem, { mode: 0o600 });
    return ["--ca-cert", cert, "--ca-key", key, "--cert-ttl", "12s"];
  };
  cluster.start(node, await files("old", oldCa));
  await until("the old root's bundle", () =>
    readFile(`${node.dataDir}/ca.pem`, "utf8").then(
      (pem) => (pem.includes("BEGIN CERTIFICATE") ? pem : undefined),
      () => undefined,
    ),
  );
  const applied = await runCli(["apply", "-f", "-", "--server", `https://${node.http}`], { input: MESH });
  assert.equal(applied.code, 0, applied.stderr);
  app = await startUpstream((req, res) => res.end(`app saw ${req.url}`));
  const control = ["--control", node.grpc, "--log-level", "warn"];
  const reviews = await startSidecar(undefined, {
    service: "reviews",
    appPort: app.port,
    staticConfig: false,
    args: control,
  });
  sidecars.push(reviews);
  const web = await startSidecar(undefined, { service: "web", staticConfig: false, args: control });
  sidecars.push(web);
  await until("web reaches reviews over mTLS", async () => {
    const r = await send(web.outbound, { headers: { host: "reviews" }, path: "/warm" });
    return r.status === 200 ? r : undefined;
  });

  let stop = false;
  let sent = 0;
  const failures: string[] = [];
  const worker = async () => {
    while (!stop) {
      const r = await send(web.outbound, { headers: { host: "reviews" }, path: `/load${sent++}` }).catch(
        (e: Error) => ({ status: 0, body: e.message, headers: {} }),
      );
      if (r.status !== 200) failures.push(`${r.status} ${String(r.body).slice(0, 100)}`);
    }
  };
  const load = Promise.all([worker(), worker(), worker()]);
  try {
    // The operator restarts the node with the new CA: the leader proposes it, the old root stays in the bundle.
    const proc = node.proc;
    proc?.kill("SIGTERM");
    await new Promise((r) => proc?.once("exit", r));
    cluster.start(node, await files("new", newCa));
    const bundle = await until(
      "a bundle with both roots",
      () =>
        readFile(`${node.dataDir}/ca.pem`, "utf8").then(
          (pem) =>
            pem.includes(newCa.certChainPem.trim()) && pem.includes(oldCa.certChainPem.trim()) ? pem : undefined,
          () => undefined,
        ),
      30_000,
    );
    const newRoot = new X509Certificate(newCa.certChainPem);
    await until(
      "reviews' certificate re-issued under the new root",
      async () => ((await inboundCert(reviews.inbound, bundle))?.verify(newRoot.publicKey) === true ? true : undefined),
      30_000,
    );
    // Keep the load on past one more renewal, so web's renewed certificate is used too.
    await new Promise((r) => setTimeout(r, 7_000));
  } finally {
    stop = true;
    await load;
  }
  assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
  assert.ok(sent > 100, `only ${sent} requests sent`);
});

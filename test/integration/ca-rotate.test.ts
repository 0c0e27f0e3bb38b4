import assert from "node:assert/strict";
import type { X509Certificate } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { send, startSidecar, startUpstream } from "../sidecar/helpers.ts";
import { startMeshNode } from "../support/mesh-node.ts";
import { pemCertificates, presentedCertificate } from "../support/tls-probe.ts";

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

test("meshlet ca rotate: a new generated root with overlap, no failed request, the old --ca-file works until the overlap ends", async (t) => {
  // Certificates of 12 s: a rotation that waited for renewals would show as a long wait here. The node is asked
  // for debug, so that any line the new root's key could hide in is written (its log is checked for keys).
  const mesh = await startMeshNode(t, () => ["--cert-ttl", "12s"], [
    "--tick-ms",
    "50",
    "--election-ticks",
    "10",
    "--log-level",
    "debug",
  ]);
  const { node, cluster } = mesh;
  const server = ["--server", `https://${node.http}`];
  await mesh.apply(MESH);
  const app = mesh.own(await startUpstream((req, res) => res.end(`app saw ${req.url}`)));
  const control = ["--control", node.grpc, "--log-level", "info"];
  const reviews = mesh.own(
    await startSidecar(undefined, { service: "reviews", appPort: app.port, staticConfig: false, args: control }),
  );
  const web = mesh.own(await startSidecar(undefined, { service: "web", staticConfig: false, args: control }));
  await until("web reaches reviews over mTLS", async () => {
    const r = await send(web.outbound, { headers: { host: "reviews" }, path: "/warm" });
    return r.status === 200 ? r : undefined;
  });
  // The operator's copy of the CA from before the rotation (the old root only).
  const oldCaFile = join(cluster.root, "old-ca.pem");
  await writeFile(oldCaFile, mesh.bundle);
  const [oldRoot] = pemCertificates(mesh.bundle);
  assert.ok(oldRoot);
  const withOldFile = { env: { MESHLET_CA_FILE: oldCaFile } };

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
  let rotation: { root: { fingerprint: string }; previousRoot: { fingerprint: string }; previousUntil: string };
  let newRoot: X509Certificate;
  const logs = (err: unknown) => {
    throw new Error(
      `${String(err)}\nreviews:\n${reviews.logs()}\nweb:\n${web.logs()}\nnode:\n${node.log.join("").slice(-8000)}`,
    );
  };
  try {
    const rotated = await runCli(["ca", "rotate", "--overlap", "35s", "-o", "json", ...server], withOldFile);
    assert.equal(rotated.code, 0, rotated.stderr);
    rotation = JSON.parse(rotated.stdout) as typeof rotation;
    assert.equal(rotation.previousRoot.fingerprint, oldRoot.fingerprint256);
    assert.notEqual(rotation.root.fingerprint, oldRoot.fingerprint256);
    const overlapLeft = Date.parse(rotation.previousUntil) - Date.now();
    assert.ok(overlapLeft > 25_000 && overlapLeft <= 35_000, `overlap ends in ${overlapLeft} ms`);

    const bundle = await until("ca.pem holds the new and the old root", async () => {
      const pem = await readFile(join(node.dataDir, "ca.pem"), "utf8");
      const fingerprints = pemCertificates(pem).map((c) => c.fingerprint256);
      return fingerprints.includes(rotation.root.fingerprint) && fingerprints.includes(oldRoot.fingerprint256)
        ? pem
        : undefined;
    });
    const found = pemCertificates(bundle).find((c) => c.fingerprint256 === rotation.root.fingerprint);
    assert.ok(found);
    newRoot = found;
    for (const [name, sidecar] of [
      ["reviews", reviews],
      ["web", web],
    ] as const)
      await until(
        `${name}'s certificate re-issued under the new root`,
        async () =>
          (await presentedCertificate(sidecar.inbound, bundle))?.verify(newRoot.publicKey) === true ? true : undefined,
        20_000,
      ).catch(logs);

    // During the overlap: the CLI with the old --ca-file still reaches the control plane (its node certificate
    // stays under the old root until the overlap ends), and says what is trusted until when.
    const shown = await runCli(["ca", "show", "-o", "json", ...server], withOldFile);
    assert.equal(shown.code, 0, shown.stderr);
    const view = JSON.parse(shown.stdout) as {
      origin: string;
      root: { fingerprint: string };
      previousRoots: { fingerprint: string }[];
      previousUntil: string;
    };
    assert.deepEqual(
      [view.origin, view.root.fingerprint, view.previousRoots.map((r) => r.fingerprint), view.previousUntil],
      ["generated", rotation.root.fingerprint, [oldRoot.fingerprint256], rotation.previousUntil],
    );
    const table = await runCli(["ca", "show", ...server], withOldFile);
    assert.match(table.stdout, new RegExp(`previous root +${oldRoot.fingerprint256}`));

    // A second rotation before the overlap ended is refused, with a code saying why.
    const again = await runCli(["ca", "rotate", ...server]);
    assert.equal(again.code, 1, again.stderr);
    assert.match(again.stderr, /ERR_CA_ROTATION_IN_PROGRESS/);
    // Keep the load on past one more renewal of both sidecars under the new root.
    await new Promise((r) => setTimeout(r, 7_000));
  } finally {
    stop = true;
    await load;
  }
  assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
  assert.ok(sent > 100, `only ${sent} requests sent`);

  // The overlap ends: the old root leaves ca.pem and the bundle, and the node re-signs its certificate.
  const after = await until(
    "ca.pem holds the new root only",
    async () => {
      const pem = await readFile(join(node.dataDir, "ca.pem"), "utf8");
      const fingerprints = pemCertificates(pem).map((c) => c.fingerprint256);
      return fingerprints.length === 1 && fingerprints[0] === rotation.root.fingerprint ? pem : undefined;
    },
    60_000,
  ).catch(logs);
  const [host, port] = [node.http.slice(0, node.http.lastIndexOf(":")), Number(node.http.split(":").pop())];
  assert.equal(host, "127.0.0.1");
  await until("the node's certificate re-signed under the new root", async () =>
    (await presentedCertificate(port, after))?.verify(newRoot.publicKey) === true ? true : undefined,
  );
  // The old --ca-file is now what the documentation says: not enough (exit 3, not reachable, with the reason).
  const stale = await runCli(["ca", "show", ...server], withOldFile);
  assert.equal(stale.code, 3, stale.stderr);
  const current = await runCli(["ca", "show", "-o", "json", ...server]);
  assert.equal(current.code, 0, current.stderr);
  assert.deepEqual((JSON.parse(current.stdout) as { previousRoots: unknown[] }).previousRoots, []);
  assert.ok(!node.log.join("").includes("PRIVATE KEY"), "no key in the node's log");
  const r = await send(web.outbound, { headers: { host: "reviews" }, path: "/after" });
  if (r.status !== 200)
    logs(`traffic under the new root alone: ${r.status} ${JSON.stringify(r.headers)} ${String(r.body)}`);
});

test("meshlet ca rotate refuses a token without the admin role, and flags it cannot take", async (t) => {
  const mesh = await startMeshNode(t);
  const server = ["--server", `https://${mesh.node.http}`];
  const created = await runCli(["token", "create", "--role", "operator", "--name", "ops", ...server]);
  assert.equal(created.code, 0, created.stderr);
  const refused = await runCli(["ca", "rotate", ...server], { env: { MESHLET_TOKEN: created.stdout.trim() } });
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /403|admin/);
  for (const overlap of ["soon", "-1h", "8761h"]) {
    const bad = await runCli(["ca", "rotate", "--overlap", overlap, ...server]);
    assert.equal(bad.code, 2, `--overlap ${overlap}: ${bad.stderr}`);
    assert.match(bad.stderr, /--overlap/);
  }
  const unknown = await runCli(["ca", "rotate", "--overlaps", "1h", ...server]);
  assert.equal(unknown.code, 2, unknown.stderr);
  // Nothing of it rotated anything.
  const shown = await runCli(["ca", "show", "-o", "json", ...server]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.deepEqual((JSON.parse(shown.stdout) as { previousRoots: unknown[] }).previousRoots, []);
});

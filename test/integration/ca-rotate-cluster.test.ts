import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { FAST_FLAGS, get, leaderOf, makeCluster, put, until } from "../controlplane/harness.ts";
import { runCli, stopProcess } from "../helpers/cli.ts";
import { pemCertificates } from "../support/tls-probe.ts";

/** The certificate the TLS server at `address` presents, trusting `ca`; undefined when the handshake failed. */
function presented(address: string, ca: string): Promise<X509Certificate | undefined> {
  const colon = address.lastIndexOf(":");
  return new Promise((resolve) => {
    const s = tlsConnect(
      {
        host: address.slice(0, colon),
        port: Number(address.slice(colon + 1)),
        ca,
        checkServerIdentity: () => undefined,
      },
      () => {
        const raw = s.getPeerCertificate().raw;
        s.destroy();
        resolve(raw === undefined ? undefined : new X509Certificate(raw));
      },
    );
    s.on("error", () => resolve(undefined));
  });
}

const fingerprintsIn = async (dataDir: string) =>
  pemCertificates(await readFile(join(dataDir, "ca.pem"), "utf8").catch(() => "")).map((c) => c.fingerprint256);

test("meshlet ca rotate on three nodes, asked of a follower: every node moves, and a member stopped across the overlap's end catches up", async (t) => {
  const cluster = await makeCluster(3, [...FAST_FLAGS, "--cert-ttl", "10s"]);
  t.after(() => cluster.stopAll());
  for (const node of cluster.nodes) cluster.start(node);
  const leader = await leaderOf(cluster.nodes);
  for (const node of cluster.nodes)
    await until(`${node.id} wrote ca.pem`, async () =>
      (await fingerprintsIn(node.dataDir)).length === 1 ? true : undefined,
    );
  const [follower, stopped] = cluster.nodes.filter((n) => n !== leader);
  assert.ok(follower && stopped);
  const oldBundle = await readFile(join(leader.dataDir, "ca.pem"), "utf8");
  const oldCaFile = join(cluster.root, "old-ca.pem");
  await writeFile(oldCaFile, oldBundle);

  const rotated = await runCli(
    ["ca", "rotate", "--overlap", "20s", "-o", "json", "--server", `https://${follower.http}`],
    { env: { MESHLET_CA_FILE: oldCaFile } },
  );
  assert.equal(rotated.code, 0, rotated.stderr);
  const { root } = JSON.parse(rotated.stdout) as { root: { fingerprint: string } };
  for (const node of cluster.nodes)
    await until(`${node.id}'s ca.pem holds both roots`, async () =>
      (await fingerprintsIn(node.dataDir)).includes(root.fingerprint) ? true : undefined,
    );
  // One member goes down during the overlap and comes back after its end, under its old-root certificate.
  assert.ok(stopped.proc);
  await stopProcess(stopped.proc, 8_000);
  stopped.proc = undefined;
  await until(
    "the overlap ended on the leader",
    async () => {
      const fingerprints = await fingerprintsIn(leader.dataDir);
      return fingerprints.length === 1 && fingerprints[0] === root.fingerprint ? true : undefined;
    },
    60_000,
  );
  const written = await put(leader, "after-the-end", "v1");
  assert.equal(written.status, 200, await written.text());
  cluster.start(stopped);
  const newBundle = await readFile(join(leader.dataDir, "ca.pem"), "utf8");
  const [newRoot] = pemCertificates(newBundle);
  assert.ok(newRoot);
  await until(
    `${stopped.id} caught up with the write made while it was down`,
    async () => {
      const r = await get(stopped, "after-the-end", true).catch(() => undefined);
      return r?.status === 200 ? true : undefined;
    },
    60_000,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${stopped.id}:\n${stopped.log.join("").slice(-6000)}`);
  });
  for (const node of cluster.nodes) {
    await until(`${node.id} serves a certificate under the new root`, async () =>
      (await presented(node.http, newBundle))?.verify(newRoot.publicKey) === true ? true : undefined,
    );
    await until(`${node.id}'s ca.pem holds the new root only`, async () =>
      (await fingerprintsIn(node.dataDir)).join() === root.fingerprint ? true : undefined,
    );
  }
  const status = await runCli(["cluster", "status", "-o", "json", "--server", `https://${leader.http}`]);
  assert.equal(status.code, 0, status.stderr);
});

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { silentLogger } from "../../../src/common/logger.ts";
import { NODE_CERT_TTL_MS, NodeIdentity } from "../../../src/controlplane/tls/node-identity.ts";
import { CertificateAuthority, createRootCa } from "../../../src/security/ca.ts";
import { generateKeyPair } from "../../../src/security/keys.ts";
import { isSelfSigned } from "../../../src/security/node-cert.ts";
import { nodeNameOf } from "../../../src/security/node-name.ts";
import { splitPem } from "../../../src/security/pem.ts";

const NOW = Date.UTC(2026, 11, 3);
const NAME = { nodeId: "n1", clusterId: "c-0123456789abcdef" };

function leaf(pem: string): X509Certificate {
  return new X509Certificate(splitPem(pem, "CERTIFICATE")[0] ?? "");
}

test("a new node starts self-signed; the mesh CA re-signs it; a restart keeps the CA's certificate", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "meshlet-node-id-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const first = await NodeIdentity.open(dir, NAME, ["127.0.0.1", "localhost"], NOW, silentLogger());
  const self = leaf(first.material().certChainPem);
  assert.equal(first.material().fromMeshCa, false);
  assert.ok(isSelfSigned(self));
  assert.deepEqual(nodeNameOf(self), NAME);
  assert.match(self.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
  assert.equal(statSync(path.join(dir, "node-key.pem")).mode & 0o777, 0o600, "the key is its owner's only");

  const ca = CertificateAuthority.load(await createRootCa("cluster.local", { now: NOW, ttlMs: 10 * 365 * 86_400_000 }));
  const changes: boolean[] = [];
  first.onChange((m) => changes.push(m.fromMeshCa));
  await first.adoptCa(ca, ca.rootPem, "", NOW);
  const issued = leaf(first.material().certChainPem);
  assert.deepEqual(changes, [true]);
  assert.ok(!isSelfSigned(issued));
  assert.ok(issued.checkIssued(new X509Certificate(ca.certPem)));
  assert.deepEqual(nodeNameOf(issued), NAME, "the CA's certificate names the same node");
  // Adopting the same CA again changes nothing (no churn at every CA record applied).
  await first.adoptCa(ca, ca.rootPem, "", NOW + 1_000);
  assert.deepEqual(changes, [true]);

  const restarted = await NodeIdentity.open(dir, NAME, ["127.0.0.1"], NOW + 60_000, silentLogger());
  assert.equal(restarted.material().fromMeshCa, true);
  assert.equal(restarted.material().certChainPem, readFileSync(path.join(dir, "node-cert.pem"), "utf8"));
  // Another node id in the same data dir does not take this node's certificate.
  const other = await NodeIdentity.open(dir, { ...NAME, nodeId: "n2" }, ["127.0.0.1"], NOW, silentLogger());
  assert.equal(other.material().fromMeshCa, false);
  assert.deepEqual(nodeNameOf(leaf(other.material().certChainPem)), { ...NAME, nodeId: "n2" });
});

test("a rotation keeps the node's certificate under the replaced root for the overlap, and re-signs at its end", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "meshlet-node-id-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const identity = await NodeIdentity.open(dir, NAME, ["127.0.0.1"], NOW, silentLogger());
  const ttl = 10 * 365 * 86_400_000;
  const old = CertificateAuthority.load(await createRootCa("cluster.local", { now: NOW, ttlMs: ttl }));
  const next = CertificateAuthority.load(await createRootCa("cluster.local", { now: NOW, ttlMs: ttl }));
  await identity.adoptCa(old, old.rootPem, old.certPem, NOW);
  const underOld = identity.material().certChainPem;
  // The rotation: the new CA, the bundle of both roots, and the replaced issuer still trusted.
  const bundle = `${next.rootPem}${old.rootPem}`;
  await identity.adoptCa(next, bundle, `${next.certPem}${old.certPem}`, NOW + 1_000);
  assert.equal(identity.material().certChainPem, underOld, "a client holding only the old root still reaches it");
  assert.equal(identity.material().bundlePem, bundle, "its peers' certificates under either root verify");
  // The overlap ends: the old issuer leaves, the node re-signs under the new root.
  await identity.adoptCa(next, next.rootPem, next.certPem, NOW + 2_000);
  const resigned = leaf(identity.material().certChainPem);
  assert.ok(
    resigned.checkIssued(new X509Certificate(next.certPem)) &&
      resigned.verify(new X509Certificate(next.certPem).publicKey),
  );
});

test("a workload certificate of the same CA is not a node certificate", async () => {
  const ca = CertificateAuthority.load(await createRootCa("cluster.local", { now: NOW, ttlMs: 86_400_000 }));
  const workload = await ca.signWorkload(generateKeyPair().publicKey, "spiffe://cluster.local/service/web", {
    now: NOW,
    ttlMs: 3_600_000,
  });
  assert.equal(nodeNameOf(leaf(workload)), undefined);
  assert.equal(nodeNameOf(new X509Certificate(ca.rootPem)), undefined);
  await assert.rejects(
    ca.signNode(generateKeyPair().publicKey, { nodeId: "n1,O=x", clusterId: "c" }, ["127.0.0.1"], {
      now: NOW,
      ttlMs: 1,
    }),
    /node id/,
  );
});

test("open says why a stored certificate was not used: missing, unreadable, expired, another node's", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "meshlet-node-id-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const open = (now: number, name = NAME) => NodeIdentity.open(dir, name, ["127.0.0.1"], now, silentLogger());
  assert.equal((await open(NOW)).stored, "missing");
  assert.equal((await open(NOW)).stored, "usable");
  assert.equal((await open(NOW + NODE_CERT_TTL_MS + 60_000)).stored, "expired");
  assert.equal((await open(NOW, { ...NAME, nodeId: "n2" })).stored, "other_node");
  writeFileSync(path.join(dir, "node-cert.pem"), "not a certificate\n");
  assert.equal((await open(NOW)).stored, "unreadable");
});

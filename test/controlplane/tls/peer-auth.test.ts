import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import type { TLSSocket } from "node:tls";
import { Registry } from "prom-client";
import { silentLogger } from "../../../src/common/logger.ts";
import { NodeIdentity } from "../../../src/controlplane/tls/node-identity.ts";
import { PeerAuth } from "../../../src/controlplane/tls/peer-auth.ts";
import { CertificateAuthority, createRootCa } from "../../../src/security/ca.ts";
import { generateKeyPair } from "../../../src/security/keys.ts";
import { selfSignedNodeCertificate } from "../../../src/security/node-cert.ts";
import { splitPem } from "../../../src/security/pem.ts";

const NOW = Date.now();
const CLUSTER = "c-0123456789abcdef";

/** What judge() reads of a TLS socket: the peer's certificate, and whether it chained to the context's CA. */
function socket(pem: string | undefined, authorized: boolean): TLSSocket {
  const cert = pem === undefined ? undefined : new X509Certificate(splitPem(pem, "CERTIFICATE")[0] ?? "");
  return { getPeerX509Certificate: () => cert, authorized } as unknown as TLSSocket;
}

test("peer verdicts: node certificates of this cluster under the mesh CA; founders' self-signed ones only in the window", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "meshlet-peer-auth-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = CertificateAuthority.load(await createRootCa("cluster.local", { now: NOW, ttlMs: 86_400_000 }));
  const identity = await NodeIdentity.open(
    dir,
    { nodeId: "n1", clusterId: CLUSTER },
    ["127.0.0.1"],
    NOW,
    silentLogger(),
  );
  let now = NOW;
  const auth = new PeerAuth({
    identity,
    founders: new Set(["n1", "n2", "n3"]),
    foundingUntil: NOW + 60_000,
    now: () => now,
    registry: new Registry(),
    logger: silentLogger(),
  });
  const key = () => generateKeyPair();
  const o = { now: NOW, ttlMs: 3_600_000 };
  const n2Self = await selfSignedNodeCertificate(key(), { nodeId: "n2", clusterId: CLUSTER }, ["127.0.0.1"], o);
  const n9Self = await selfSignedNodeCertificate(key(), { nodeId: "n9", clusterId: CLUSTER }, ["127.0.0.1"], o);
  const otherSelf = await selfSignedNodeCertificate(key(), { nodeId: "n2", clusterId: "c-other" }, ["127.0.0.1"], o);
  const n4 = await ca.signNode(key().publicKey, { nodeId: "n4", clusterId: CLUSTER }, ["127.0.0.1"], o);
  const workload = await ca.signWorkload(key().publicKey, "spiffe://cluster.local/service/web", o);

  assert.deepEqual(auth.judge(socket(undefined, false)), { ok: false, reason: "no_certificate" });
  assert.deepEqual(auth.judge(socket(workload, true)), { ok: false, reason: "not_node_certificate" });
  assert.deepEqual(auth.judge(socket(otherSelf, false)), { ok: false, reason: "other_cluster" });
  assert.deepEqual(auth.judge(socket(n2Self, false)), { ok: true, nodeId: "n2", via: "founding" });
  assert.deepEqual(auth.judge(socket(n9Self, false)), { ok: false, reason: "untrusted_issuer" }, "not a founder");
  // Before this node knows the CA, "authorized" means nothing (Node's default roots): a CA-signed joiner waits.
  assert.deepEqual(auth.judge(socket(n4, true)), { ok: false, reason: "untrusted_issuer" });
  // A founder that applied the CA before this node did: taken in the window, or this node never gets the log.
  const n3 = await ca.signNode(key().publicKey, { nodeId: "n3", clusterId: CLUSTER }, ["127.0.0.1"], o);
  assert.deepEqual(auth.judge(socket(n3, false)), { ok: true, nodeId: "n3", via: "founding" });

  await identity.adoptCa(ca, ca.rootPem, NOW);
  assert.deepEqual(auth.judge(socket(n4, true)), { ok: true, nodeId: "n4", via: "mesh_ca" });
  assert.deepEqual(auth.judge(socket(n4, false)), { ok: false, reason: "untrusted_issuer" }, "not chained to the CA");
  assert.deepEqual(auth.judge(socket(n3, true)), { ok: true, nodeId: "n3", via: "mesh_ca" });

  now = NOW + 60_000;
  assert.equal(auth.foundingOpen(), false);
  assert.deepEqual(auth.judge(socket(n2Self, false)), { ok: false, reason: "untrusted_issuer" }, "window closed");
  assert.deepEqual(auth.judge(socket(n4, true)), { ok: true, nodeId: "n4", via: "mesh_ca" });
});

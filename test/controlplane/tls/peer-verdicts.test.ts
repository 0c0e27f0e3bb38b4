import assert from "node:assert/strict";
import { sign, X509Certificate } from "node:crypto";
import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import type { TLSSocket } from "node:tls";
import { Registry } from "prom-client";
import { silentLogger } from "../../../src/common/logger.ts";
import { NodeIdentity } from "../../../src/controlplane/tls/node-identity.ts";
import { PeerAuth, type PeerVerdict } from "../../../src/controlplane/tls/peer-auth.ts";
import { CertificateAuthority, createRootCa } from "../../../src/security/ca.ts";
import { bitString, objectIdentifier, sequence } from "../../../src/security/der.ts";
import { generateKeyPair, signingParams, toSigningKey, toVerifyingKey } from "../../../src/security/keys.ts";
import { nodeSubject, selfSignedNodeCertificate } from "../../../src/security/node-cert.ts";
import { splitPem } from "../../../src/security/pem.ts";
import { X509CertificateGenerator } from "../../../src/security/x509.ts";
import { preorder, readTree, write } from "../../security/ber-variants.ts";

const NOW = Date.now();
const CLUSTER = "c-0123456789abcdef";
const o = { now: NOW, ttlMs: 3_600_000 };

/** A node's self-signed certificate re-encoded with one length in BER's long form and signed again: not DER. */
async function notDer(nodeId: string): Promise<X509Certificate> {
  const keys = generateKeyPair();
  const der = new X509Certificate(
    await selfSignedNodeCertificate(keys, { nodeId, clusterId: CLUSTER }, ["127.0.0.1"], o),
  ).raw;
  const tbs = der.subarray(4, 8 + der.readUInt16BE(6));
  const tree = readTree(tbs);
  const cn = preorder(tree).find((n) => n.content.toString() === nodeId);
  assert.ok(cn !== undefined);
  const altered = write(tree, cn, "long length");
  const signature = sign("sha256", altered, { key: keys.privateKey, dsaEncoding: "der" });
  const cert = new X509Certificate(
    sequence(altered, sequence(objectIdentifier("1.2.840.10045.4.3.2")), bitString(signature)),
  );
  assert.ok(cert.verify(keys.publicKey) && cert.subject.includes(`CN=${nodeId}`), "signed, and OpenSSL reads it");
  return cert;
}

/** Issuer = subject, but signed by another key than the one it carries: not self-signed, only self-named. */
async function forgedSelfSigned(nodeId: string): Promise<X509Certificate> {
  const carried = generateKeyPair();
  const signer = generateKeyPair();
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: nodeSubject({ nodeId, clusterId: CLUSTER }),
    notBefore: new Date(NOW - 60_000),
    notAfter: new Date(NOW + 3_600_000),
    signingAlgorithm: signingParams(signer.privateKey),
    keys: { privateKey: toSigningKey(signer.privateKey), publicKey: toVerifyingKey(carried.publicKey) },
  });
  return new X509Certificate(cert.toString("pem"));
}

const x509 = (pem: string) => new X509Certificate(splitPem(pem, "CERTIFICATE")[0] ?? "");

let port = 41_000;
/** A server-side TLS socket as remember() sees it: the peer's certificate, whether it chained, its address. */
function socket(cert: X509Certificate | undefined, authorized: boolean): TLSSocket {
  return Object.assign(new EventEmitter(), {
    getPeerX509Certificate: () => cert,
    authorized,
    remoteAddress: "127.0.0.1",
    remotePort: port++,
  }) as unknown as TLSSocket;
}

function show(v: PeerVerdict): string {
  return v.ok ? `ok ${v.nodeId} ${v.via}` : v.reason;
}

test("peer verdicts by certificate, before and after this node knows the CA, and after the founding window", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "meshlet-peer-verdicts-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = CertificateAuthority.load(await createRootCa("cluster.local", { now: NOW, ttlMs: 86_400_000 }));
  const foreign = CertificateAuthority.load(await createRootCa("cluster.local", { now: NOW, ttlMs: 86_400_000 }));
  const identity = await NodeIdentity.open(
    dir,
    { nodeId: "n1", clusterId: CLUSTER },
    ["127.0.0.1"],
    NOW,
    silentLogger(),
  );
  let now = NOW;
  const members = new Set(["n1", "n2", "n3", "n4"]);
  const auth = new PeerAuth({
    identity,
    founders: new Set(["n1", "n2", "n3"]),
    foundingUntil: NOW + 60_000,
    now: () => now,
    isMember: (id) => members.has(id),
    registry: new Registry(),
    logger: silentLogger(),
  });
  const key = () => generateKeyPair().publicKey;
  const signed = async (nodeId: string, by = ca, clusterId = CLUSTER) =>
    x509(await by.signNode(key(), { nodeId, clusterId }, ["127.0.0.1"], o));
  const selfSigned = async (nodeId: string) =>
    x509(await selfSignedNodeCertificate(generateKeyPair(), { nodeId, clusterId: CLUSTER }, ["127.0.0.1"], o));

  // [certificate, chained to this node's CA context, verdict: in the window before the CA / after / window closed]
  const rows: [string, X509Certificate | undefined, boolean, string, string, string][] = [
    ["no certificate", undefined, false, "no_certificate", "no_certificate", "no_certificate"],
    ["founder, self-signed", await selfSigned("n2"), false, "ok n2 founding", "ok n2 founding", "untrusted_issuer"],
    [
      "founder, self-signed, not DER",
      await notDer("n2"),
      false,
      "not_node_certificate",
      "not_node_certificate",
      "not_node_certificate",
    ],
    // Before the CA exists anyone can name a founder (documented in peer-auth.ts); once it exists, no more.
    [
      "founder, self-named, signed by another key",
      await forgedSelfSigned("n2"),
      false,
      "ok n2 founding",
      "untrusted_issuer",
      "untrusted_issuer",
    ],
    [
      "not a founder, self-signed",
      await selfSigned("n4"),
      false,
      "untrusted_issuer",
      "untrusted_issuer",
      "untrusted_issuer",
    ],
    ["member, CA-signed", await signed("n4"), true, "untrusted_issuer", "ok n4 mesh_ca", "ok n4 mesh_ca"],
    [
      "member, CA-signed, chain not verified",
      await signed("n4"),
      false,
      "untrusted_issuer",
      "untrusted_issuer",
      "untrusted_issuer",
    ],
    ["founder, CA-signed", await signed("n3"), true, "ok n3 founding", "ok n3 mesh_ca", "ok n3 mesh_ca"],
    [
      "founder, CA-signed, chain not verified",
      await signed("n3"),
      false,
      "ok n3 founding",
      "untrusted_issuer",
      "untrusted_issuer",
    ],
    ["removed member, CA-signed", await signed("n5"), true, "untrusted_issuer", "not_member", "not_member"],
    [
      "member, signed by another CA",
      await signed("n4", foreign),
      false,
      "untrusted_issuer",
      "untrusted_issuer",
      "untrusted_issuer",
    ],
    [
      "member of another cluster",
      await signed("n4", ca, "c-other"),
      true,
      "other_cluster",
      "other_cluster",
      "other_cluster",
    ],
    [
      "founder of another cluster, self-signed",
      x509(
        await selfSignedNodeCertificate(generateKeyPair(), { nodeId: "n2", clusterId: "c-other" }, ["127.0.0.1"], o),
      ),
      false,
      "other_cluster",
      "other_cluster",
      "other_cluster",
    ],
    [
      "workload certificate",
      x509(await ca.signWorkload(key(), "spiffe://cluster.local/service/web", o)),
      true,
      "not_node_certificate",
      "not_node_certificate",
      "not_node_certificate",
    ],
  ];
  const verdicts = () =>
    rows.map(([what, cert, authorized]) => {
      const s = socket(cert, authorized);
      auth.remember(s);
      const v = show(auth.verdictOf({ getPeer: () => `${s.remoteAddress}:${s.remotePort}` }));
      s.emit("close");
      return [what, v];
    });

  assert.deepEqual(
    verdicts(),
    rows.map(([what, , , before]) => [what, before]),
    "in the window, before the CA",
  );
  await identity.adoptCa(ca, ca.rootPem, "", NOW);
  assert.deepEqual(
    verdicts(),
    rows.map(([what, , , , known]) => [what, known]),
    "in the window, with the CA",
  );
  now = NOW + 60_000;
  assert.deepEqual(
    verdicts(),
    rows.map(([what, , , , , closed]) => [what, closed]),
    "after the window",
  );
});

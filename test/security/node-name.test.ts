import assert from "node:assert/strict";
import { sign, X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import { bitString, objectIdentifier, sequence } from "../../src/security/der.ts";
import { generateKeyPair, signingParams, toSigningKey, toVerifyingKey } from "../../src/security/keys.ts";
import { selfSignedNodeCertificate } from "../../src/security/node-cert.ts";
import { NODE_ORGANIZATION, nodeNameOf } from "../../src/security/node-name.ts";
import { X509CertificateGenerator } from "../../src/security/x509.ts";
import { preorder, readTree, write } from "./ber-variants.ts";

const NOW = Date.UTC(2026, 11, 3, 12, 0, 0);
const keys = generateKeyPair();
const O = "2.5.4.10";
const OU = "2.5.4.11";
const CN = "2.5.4.3";

/** A self-signed certificate (what a founding peer may present) with the subject given as RDNs of type → values. */
async function withSubject(name: Record<string, string[]>[]): Promise<X509Certificate> {
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name,
    notBefore: new Date(NOW - 60_000),
    notAfter: new Date(NOW + 3_600_000),
    signingAlgorithm: signingParams(keys.privateKey),
    keys: { privateKey: toSigningKey(keys.privateKey), publicKey: toVerifyingKey(keys.publicKey) },
  });
  return new X509Certificate(cert.toString("pem"));
}

describe("nodeNameOf on hostile peer certificates", () => {
  it("reads the name of a node certificate", async () => {
    const pem = await selfSignedNodeCertificate(keys, { nodeId: "n1", clusterId: "c1" }, ["localhost"], {
      now: NOW,
      ttlMs: 3_600_000,
    });
    assert.deepEqual(nodeNameOf(new X509Certificate(pem)), { nodeId: "n1", clusterId: "c1" });
    assert.deepEqual(
      nodeNameOf(await withSubject([{ [O]: [NODE_ORGANIZATION] }, { [OU]: ["c1"] }, { [CN]: ["n1"] }])),
      {
        nodeId: "n1",
        clusterId: "c1",
      },
    );
  });

  const cases: [string, Record<string, string[]>[]][] = [
    [
      "a CN carrying a line break and a second O",
      [{ [O]: ["other"] }, { [OU]: ["c1"] }, { [CN]: [`n1\nO=${NODE_ORGANIZATION}`] }],
    ],
    ["an OU carrying a line break and a CN", [{ [O]: [NODE_ORGANIZATION] }, { [OU]: ["c1\nCN=n2"] }]],
    ["two O values", [{ [O]: [NODE_ORGANIZATION] }, { [O]: ["other"] }, { [OU]: ["c1"] }, { [CN]: ["n1"] }]],
    ["two CNs", [{ [O]: [NODE_ORGANIZATION] }, { [OU]: ["c1"] }, { [CN]: ["n1"] }, { [CN]: ["n2"] }]],
    ["O and OU in one multi-valued RDN", [{ [O]: [NODE_ORGANIZATION], [OU]: ["c1"] }, { [CN]: ["n1"] }]],
    ["a CN with '=' in it", [{ [O]: [NODE_ORGANIZATION] }, { [OU]: ["c1"] }, { [CN]: ["n1=n2"] }]],
    ["a CN with a comma and a space", [{ [O]: [NODE_ORGANIZATION] }, { [OU]: ["c1"] }, { [CN]: ["n1, CN=n2"] }]],
    ["a CN with a NUL", [{ [O]: [NODE_ORGANIZATION] }, { [OU]: ["c1"] }, { [CN]: ["n1\u0000"] }]],
    ["an O with a trailing space", [{ [O]: [`${NODE_ORGANIZATION} `] }, { [OU]: ["c1"] }, { [CN]: ["n1"] }]],
    [
      "an unknown attribute type named like O",
      [{ "2.5.4.99": [NODE_ORGANIZATION] }, { [OU]: ["c1"] }, { [CN]: ["n1"] }],
    ],
  ];
  for (const [name, subject] of cases)
    it(`names no node for ${name}`, async () => {
      assert.equal(nodeNameOf(await withSubject(subject)), undefined);
    });

  it("names no node for a certificate that is not DER (a length in the long form, re-signed)", async () => {
    const der = (await withSubject([{ [O]: [NODE_ORGANIZATION] }, { [OU]: ["c1"] }, { [CN]: ["n1"] }])).raw;
    // Certificate and TBSCertificate both have two-byte lengths at this size.
    const tbs = der.subarray(4, 8 + der.readUInt16BE(6));
    const tree = readTree(tbs);
    const cn = preorder(tree).find((n) => n.content.toString() === "n1");
    assert.ok(cn !== undefined);
    const altered = write(tree, cn, "long length");
    const signature = sign("sha256", altered, { key: keys.privateKey, dsaEncoding: "der" });
    const cert = new X509Certificate(
      sequence(altered, sequence(objectIdentifier("1.2.840.10045.4.3.2")), bitString(signature)),
    );
    assert.ok(cert.verify(keys.publicKey), "it is signed");
    assert.match(cert.subject, /CN=n1/, "OpenSSL reads it");
    assert.equal(nodeNameOf(cert), undefined);
  });
});

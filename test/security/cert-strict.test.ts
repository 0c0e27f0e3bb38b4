import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { sign, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import fc from "fast-check";
import { CertificateAuthority, createRootCa } from "../../src/security/ca.ts";
import { bitString, contextPrimitive, integer, objectIdentifier, sequence } from "../../src/security/der.ts";
import { certificateDerProblem } from "../../src/security/der-check.ts";
import { spiffeIdOf } from "../../src/security/identity.ts";
import {
  generateKeyPair,
  loadPrivateKey,
  signingParams,
  toSigningKey,
  toVerifyingKey,
} from "../../src/security/keys.ts";
import { verifyWorkloadChain } from "../../src/security/verify.ts";
import {
  Extension,
  X509Certificate as ParsedCertificate,
  SubjectAlternativeNameExtension,
  X509CertificateGenerator,
} from "../../src/security/x509.ts";

const NOW = Date.UTC(2026, 11, 3, 12, 0, 0);
const HOUR = 3_600_000;
const REVIEWS = "spiffe://cluster.local/service/reviews";
const ADMIN = "spiffe://cluster.local/service/admin";
const SAN = "2.5.29.17";
const uri = (id: string) => contextPrimitive(6, Buffer.from(id, "latin1"));
const tlv = (head: number[], ...content: Buffer[]) => Buffer.concat([Buffer.from(head), ...content]);

describe("peer certificates: the SPIFFE ID only from a DER certificate with one unambiguous URI", () => {
  let material: Awaited<ReturnType<typeof createRootCa>>;
  let ca: CertificateAuthority;
  before(async () => {
    material = await createRootCa("cluster.local", { now: NOW, ttlMs: 24 * HOUR });
    ca = CertificateAuthority.load(material);
  });

  /** A leaf signed by the trusted root with exactly `extensions`: a CA that signs what it is given. */
  async function leaf(extensions: Extension[]): Promise<string> {
    const key = loadPrivateKey(material.keyPem);
    const cert = await X509CertificateGenerator.create({
      serialNumber: "01",
      subject: "CN=leaf",
      issuer: new ParsedCertificate(material.certChainPem).subject,
      notBefore: new Date(NOW - HOUR),
      notAfter: new Date(NOW + HOUR),
      publicKey: toVerifyingKey(generateKeyPair().publicKey),
      signingKey: toSigningKey(key),
      signingAlgorithm: signingParams(key),
      extensions,
    });
    return cert.toString("pem");
  }

  it("reads the identity of what the mesh CA issues, and its certificates are DER", async () => {
    const chain = await ca.signWorkload(generateKeyPair().publicKey, REVIEWS, { now: NOW, ttlMs: HOUR });
    assert.equal(verifyWorkloadChain(chain, ca.rootPem, NOW, REVIEWS), REVIEWS);
    const node = await ca.signNode(
      generateKeyPair().publicKey,
      { nodeId: "n1", clusterId: "c1" },
      ["localhost", "127.0.0.1"],
      {
        now: NOW,
        ttlMs: HOUR,
      },
    );
    for (const pem of [chain, node, ca.rootPem])
      assert.equal(certificateDerProblem(new X509Certificate(pem).raw), undefined);
    assert.equal(
      verifyWorkloadChain(await leaf([new Extension(SAN, false, sequence(uri(REVIEWS)))]), ca.rootPem, NOW),
      REVIEWS,
    );
  });

  it("reads the identity of a certificate openssl makes", () => {
    const dir = mkdtempSync(join(tmpdir(), "meshlet-cert-"));
    try {
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:P-256",
          "-nodes",
          "-days",
          "1",
          "-subj",
          "/O=Acme/CN=reviews",
          "-addext",
          `subjectAltName=URI:${REVIEWS}`,
          "-keyout",
          join(dir, "k.pem"),
          "-out",
          join(dir, "c.pem"),
        ],
        { stdio: "pipe" },
      );
      assert.equal(spiffeIdOf(new X509Certificate(readFileSync(join(dir, "c.pem")))), REVIEWS);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const cases: [string, () => Extension[]][] = [
    [
      "GeneralNames with an indefinite length",
      () => [new Extension(SAN, false, tlv([0x30, 0x80], uri(REVIEWS), Buffer.from([0, 0])))],
    ],
    [
      "GeneralNames with a non-minimal length",
      () => [new Extension(SAN, false, tlv([0x30, 0x81, uri(REVIEWS).length], uri(REVIEWS)))],
    ],
    [
      "a byte after GeneralNames",
      () => [new Extension(SAN, false, Buffer.concat([sequence(uri(REVIEWS)), Buffer.from([0])]))],
    ],
    [
      "the URI with a non-minimal length",
      () => [new Extension(SAN, false, sequence(tlv([0x86, 0x81, REVIEWS.length], Buffer.from(REVIEWS))))],
    ],
    ["two URIs", () => [new Extension(SAN, false, sequence(uri(REVIEWS), uri(ADMIN)))]],
    [
      "a URI with a comma and a second URI inside",
      () => [new Extension(SAN, false, sequence(uri(`${REVIEWS}, URI:${ADMIN}`)))],
    ],
    [
      "two SAN extensions",
      () => [new Extension(SAN, false, sequence(uri(REVIEWS))), new Extension(SAN, false, sequence(uri(ADMIN)))],
    ],
    [
      "basicConstraints with a non-minimal INTEGER",
      () => [
        new Extension(SAN, false, sequence(uri(REVIEWS))),
        new Extension("2.5.29.19", false, sequence(tlv([0x01, 0x01, 0xff]), tlv([0x02, 0x02, 0x00, 0x01]))),
      ],
    ],
    [
      "an unknown extension with a BER value",
      () => [
        new Extension(SAN, false, sequence(uri(REVIEWS))),
        new Extension("1.3.6.1.4.1.55555.1", false, tlv([0x30, 0x80], integer(1), Buffer.from([0, 0]))),
      ],
    ],
  ];
  for (const [name, extensions] of cases)
    it(`gives no identity for a CA-signed leaf with ${name}`, async () => {
      const pem = await leaf(extensions());
      assert.equal(spiffeIdOf(new X509Certificate(pem)), undefined);
      // OpenSSL itself refuses some (a BER basicConstraints makes the chain check fail first).
      assert.throws(() => verifyWorkloadChain(pem, ca.rootPem, NOW), { code: /^ERR_CERT_(IDENTITY|UNKNOWN_ISSUER)$/ });
    });

  it("gives no identity for a CA-signed leaf whose own structure is not DER (critical as 0x01, re-signed)", async () => {
    const der = new X509Certificate(await leaf([new Extension(SAN, true, sequence(uri(REVIEWS)))])).raw;
    // Certificate and TBSCertificate both have two-byte lengths at this size.
    const tbs = Buffer.from(der.subarray(4, 8 + der.readUInt16BE(6)));
    const at = tbs.indexOf(Buffer.from([0x01, 0x01, 0xff]));
    assert.ok(at > 0);
    tbs[at + 2] = 0x01;
    const signature = sign("sha256", tbs, { key: loadPrivateKey(material.keyPem), dsaEncoding: "der" });
    const cert = new X509Certificate(
      sequence(tbs, sequence(objectIdentifier("1.2.840.10045.4.3.2")), bitString(signature)),
    );
    assert.ok(cert.verify(new X509Certificate(material.certChainPem).publicKey), "the altered certificate is signed");
    assert.match(certificateDerProblem(cert.raw) ?? "DER", /BOOLEAN/);
    assert.equal(spiffeIdOf(cert), undefined);
    assert.throws(() => verifyWorkloadChain(cert.toString(), ca.rootPem, NOW), { code: "ERR_CERT_IDENTITY" });
  });
});

describe("peer certificates under random edits (re-signed by the trusted CA)", () => {
  it("property: an identity is read only from a DER certificate, and it is the one URI @peculiar/x509 reads too", async () => {
    const material = await createRootCa("cluster.local", { now: NOW, ttlMs: 24 * HOUR });
    const key = loadPrivateKey(material.keyPem);
    const generated = await X509CertificateGenerator.create({
      serialNumber: "01",
      subject: "CN=leaf",
      issuer: new ParsedCertificate(material.certChainPem).subject,
      notBefore: new Date(NOW - HOUR),
      notAfter: new Date(NOW + HOUR),
      publicKey: toVerifyingKey(generateKeyPair().publicKey),
      signingKey: toSigningKey(key),
      signingAlgorithm: signingParams(key),
      // The SAN only: @peculiar/x509, the second reader here, refuses a whole certificate over one bad extension.
      extensions: [new Extension(SAN, true, sequence(uri(REVIEWS)))],
    });
    const der = Buffer.from(generated.rawData);
    const tbs = der.subarray(4, 8 + der.readUInt16BE(6));
    let identified = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(tbs.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 2 }),
        async (edits) => {
          const mutated = Buffer.from(tbs);
          for (const [at, byte] of edits) mutated[at] = byte;
          const signature = sign("sha256", mutated, { key, dsaEncoding: "der" });
          let cert: X509Certificate;
          try {
            cert = new X509Certificate(
              sequence(mutated, sequence(objectIdentifier("1.2.840.10045.4.3.2")), bitString(signature)),
            );
          } catch {
            return; // OpenSSL refuses to parse it: nothing is read from it
          }
          const id = spiffeIdOf(cert);
          if (id === undefined) return;
          identified++;
          assert.equal(certificateDerProblem(cert.raw), undefined);
          const sans = [...new ParsedCertificate(cert.raw).getExtensions(SAN)];
          const names = sans.flatMap((e) => [...new SubjectAlternativeNameExtension(e.rawData).names.toJSON()]);
          assert.deepEqual(
            names.filter((n) => n.type === "url").map((n) => n.value),
            [id],
          );
        },
      ),
      { numRuns: 300 },
    );
    assert.ok(identified > 0, "some edits (outside the SAN) keep the identity");
  });
});

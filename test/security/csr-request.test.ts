import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MAX_CSR_PEM_BYTES, verifyCsr } from "../../src/security/csr.ts";
import { createCsr, requestInfo } from "../../src/security/csr-request.ts";
import { type KeyPair, signingParams, toSigningKey, toVerifyingKey } from "../../src/security/keys.ts";
import {
  Pkcs10CertificateRequest,
  Pkcs10CertificateRequestGenerator,
  SubjectAlternativeNameExtension,
} from "../../src/security/x509.ts";

const REVIEWS = "spiffe://cluster.local/service/reviews";
const P256 = generateKeyPairSync("ec", { namedCurve: "P-256" });
const P384 = generateKeyPairSync("ec", { namedCurve: "P-384" });

/** What @peculiar/x509 reads from a CSR, and whether it verifies the signature. */
async function readBack(pem: string) {
  const csr = new Pkcs10CertificateRequest(pem);
  // Spread: the library's lists are Array subclasses, which deepEqual tells apart from plain arrays.
  const sans = [...csr.getExtensions("2.5.29.17")].flatMap((e) => [
    ...new SubjectAlternativeNameExtension(e.rawData).names.toJSON(),
  ]);
  return { sans, verified: await csr.verify(), subject: csr.subject };
}

/** The DER of the request @peculiar/x509's own generator builds for the same key and identity. */
async function peculiarDer(keys: KeyPair, identity: string): Promise<Buffer> {
  const csr = await Pkcs10CertificateRequestGenerator.create({
    keys: { privateKey: toSigningKey(keys.privateKey), publicKey: toVerifyingKey(keys.publicKey) },
    signingAlgorithm: signingParams(keys.privateKey),
    extensions: [new SubjectAlternativeNameExtension([{ type: "url", value: identity }])],
  });
  return Buffer.from(csr.rawData);
}

async function checkOne(keys: KeyPair, identity: string): Promise<void> {
  const pem = createCsr(keys, identity);
  const { sans, verified, subject } = await readBack(pem);
  assert.ok(verified, `signature of ${identity}`);
  assert.deepEqual(sans, [{ type: "url", value: identity }]);
  assert.equal(subject, "");
  // The signed request info is byte for byte the library's, right after its outer SEQUENCE's header.
  const at = (await peculiarDer(keys, identity)).indexOf(requestInfo(keys.publicKey, identity));
  assert.ok(at >= 2 && at <= 5, `request info at ${at}`);
  // And the control plane's strict reading (DER only) accepts it, within its size limit.
  if (pem.length <= MAX_CSR_PEM_BYTES) await verifyCsr(pem, identity);
}

describe("sidecar CSR (own DER encoder) read by @peculiar/x509", () => {
  it("parses, verifies and names exactly the identity, for each key and length class", async () => {
    const cases: [string, KeyPair, string][] = [
      ["P-256, short", P256, REVIEWS],
      ["P-384, short", P384, REVIEWS],
      ["P-256, namespace form", P256, "spiffe://cluster.local/ns/default/sa/reviews"],
      // Lengths that cross the one-byte (127) and two-byte (255) length forms somewhere in the request.
      ["P-256, SAN near 127 bytes", P256, `spiffe://cluster.local/service/${"a".repeat(90)}`],
      ["P-384, request past 255 bytes", P384, `spiffe://cluster.local/service/${"b".repeat(200)}`],
      ["P-256, request past 64 KiB", P256, `spiffe://cluster.local/service/${"c".repeat(70_000)}`],
    ];
    for (const [name, keys, identity] of cases)
      await checkOne(keys, identity).catch((e) => assert.fail(`${name}: ${e}`));
  });

  it("the control plane's verifyCsr accepts it for its identity", async () => {
    for (const keys of [P256, P384]) {
      const { publicKey } = await verifyCsr(createCsr(keys, REVIEWS), REVIEWS);
      assert.ok(publicKey.equals(keys.publicKey));
    }
  });

  it("refuses keys and identities it cannot encode", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const ed = generateKeyPairSync("ed25519");
    const k256 = generateKeyPairSync("ec", { namedCurve: "secp256k1" });
    for (const [name, keys] of [
      ["RSA", rsa],
      ["Ed25519", ed],
      ["secp256k1", k256],
    ] as const)
      assert.throws(() => createCsr(keys, REVIEWS), { code: "ERR_CSR_KEY" }, name);
    for (const bad of ["", "spiffe://cluster.local/service/é", "spiffe://x/\u0000", "a\nb"])
      assert.throws(() => createCsr(P256, bad), { code: "ERR_CSR_IDENTITY" }, JSON.stringify(bad));
  });

  it("property: every CSR the encoder builds parses and verifies with @peculiar/x509", async () => {
    const identity = fc.string({
      unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
      minLength: 1,
      maxLength: 400,
    });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(P256, P384), identity, async (keys, id) => checkOne(keys, id)),
      { numRuns: 60 },
    );
  });
});

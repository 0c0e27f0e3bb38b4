import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { before, describe, it } from "node:test";
import fc from "fast-check";
import { CertificateAuthority, createRootCa } from "../../src/security/ca.ts";
import { verifyCsr } from "../../src/security/csr.ts";
import { createCsr } from "../../src/security/csr-request.ts";
import { spiffeIdFromAltNames } from "../../src/security/identity.ts";
import { generateKeyPair, signingParams, toSigningKey, toVerifyingKey } from "../../src/security/keys.ts";
import { parseSpiffeId, spiffeIdFor } from "../../src/security/spiffe.ts";
import { verifyWorkloadChain } from "../../src/security/verify.ts";
import { Pkcs10CertificateRequestGenerator, SubjectAlternativeNameExtension } from "../../src/security/x509.ts";

const NOW = Date.UTC(2026, 11, 2, 12, 0, 0);
const HOUR = 3_600_000;
const REVIEWS = "spiffe://cluster.local/service/reviews";

async function newCa(now = NOW): Promise<CertificateAuthority> {
  return CertificateAuthority.load(await createRootCa("cluster.local", { now, ttlMs: 24 * HOUR }));
}

/** A CSR with whatever SANs a hostile sidecar chooses. */
async function csrWith(sans: { type: "url" | "dns" | "ip" | "email"; value: string }[]): Promise<string> {
  const keys = generateKeyPair();
  const csr = await Pkcs10CertificateRequestGenerator.create({
    keys: { privateKey: toSigningKey(keys.privateKey), publicKey: toVerifyingKey(keys.publicKey) },
    signingAlgorithm: signingParams(keys.privateKey),
    extensions: sans.length === 0 ? [] : [new SubjectAlternativeNameExtension(sans)],
  });
  return csr.toString("pem");
}

describe("mesh CA", () => {
  let ca: CertificateAuthority;
  before(async () => {
    ca = await newCa();
  });

  it("issues a leaf with the SPIFFE ID that verifies against the bundle", async () => {
    const keys = generateKeyPair();
    const { publicKey } = await verifyCsr(createCsr(keys, REVIEWS), REVIEWS);
    const chain = await ca.signWorkload(publicKey, REVIEWS, { now: NOW, ttlMs: HOUR });
    assert.equal(verifyWorkloadChain(chain, ca.rootPem, NOW + 1000, REVIEWS), REVIEWS);
  });

  it("refuses expired, not-yet-valid, unknown-issuer and wrong-identity certificates", async () => {
    const keys = generateKeyPair();
    const chain = await ca.signWorkload(keys.publicKey, REVIEWS, { now: NOW, ttlMs: HOUR });
    const other = await newCa();
    const cases: [string, () => string, string][] = [
      ["expired", () => verifyWorkloadChain(chain, ca.rootPem, NOW + 2 * HOUR), "ERR_CERT_EXPIRED"],
      ["not yet valid", () => verifyWorkloadChain(chain, ca.rootPem, NOW - HOUR), "ERR_CERT_NOT_YET_VALID"],
      ["unknown issuer", () => verifyWorkloadChain(chain, other.rootPem, NOW), "ERR_CERT_UNKNOWN_ISSUER"],
      [
        "wrong identity",
        () => verifyWorkloadChain(chain, ca.rootPem, NOW, "spiffe://cluster.local/service/ratings"),
        "ERR_CERT_IDENTITY",
      ],
      [
        "garbage",
        () => verifyWorkloadChain("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", ca.rootPem, NOW),
        "ERR_CERT_MALFORMED",
      ],
      ["empty", () => verifyWorkloadChain("", ca.rootPem, NOW), "ERR_CERT_MALFORMED"],
    ];
    for (const [name, run, code] of cases) assert.throws(run, { code }, name);
  });

  it("never issues a leaf that outlives the CA", async () => {
    const keys = generateKeyPair();
    const chain = await ca.signWorkload(keys.publicKey, REVIEWS, { now: NOW, ttlMs: 1000 * HOUR });
    assert.throws(() => verifyWorkloadChain(chain, ca.rootPem, NOW + 25 * HOUR), { code: "ERR_CERT_EXPIRED" });
  });

  it("signs with an operator intermediate and chains up to the operator root", async () => {
    const root = await newCa();
    const interKeys = generateKeyPair();
    const interPem = await root.signIntermediate(interKeys.publicKey, "meshlet intermediate", {
      now: NOW,
      ttlMs: 24 * HOUR,
    });
    const inter = CertificateAuthority.load({
      certChainPem: interPem,
      keyPem: interKeys.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    });
    const leafKeys = generateKeyPair();
    const chain = await inter.signWorkload(leafKeys.publicKey, REVIEWS, { now: NOW, ttlMs: HOUR });
    assert.equal(verifyWorkloadChain(chain, inter.rootPem, NOW, REVIEWS), REVIEWS);
    assert.equal(inter.rootPem, root.rootPem);
  });

  it("refuses unusable operator CAs", async () => {
    const leafKeys = generateKeyPair();
    const leaf = await ca.signWorkload(leafKeys.publicKey, REVIEWS, { now: NOW, ttlMs: HOUR });
    const otherKey = generateKeyPair().privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const rsa1024 = generateKeyPairSync("rsa", { modulusLength: 1024 })
      .privateKey.export({ type: "pkcs8", format: "pem" })
      .toString();
    const material = await createRootCa("cluster.local", { now: NOW, ttlMs: HOUR });
    const cases: [string, { certChainPem: string; keyPem: string }][] = [
      [
        "a leaf is not a CA",
        { certChainPem: leaf, keyPem: leafKeys.privateKey.export({ type: "pkcs8", format: "pem" }).toString() },
      ],
      ["key of another CA", { certChainPem: material.certChainPem, keyPem: otherKey }],
      ["weak RSA key", { certChainPem: material.certChainPem, keyPem: rsa1024 }],
      ["no certificate", { certChainPem: "", keyPem: material.keyPem }],
      ["no key", { certChainPem: material.certChainPem, keyPem: "" }],
    ];
    for (const [name, m] of cases) assert.throws(() => CertificateAuthority.load(m), { code: "ERR_CA_INVALID" }, name);
  });
});

describe("CSR verification (hostile CSRs)", () => {
  it("refuses each hostile CSR with its code", async () => {
    const valid = createCsr(generateKeyPair(), REVIEWS);
    const tampered = valid.replace(/[A-Za-z0-9+/]{8}(?=[A-Za-z0-9+/]*=*\n-----END)/, "AAAAAAAA");
    const cases: [string, string, string][] = [
      [
        "another service's identity",
        createCsr(generateKeyPair(), "spiffe://cluster.local/service/ratings"),
        "ERR_CSR_IDENTITY",
      ],
      [
        "another trust domain",
        createCsr(generateKeyPair(), "spiffe://evil.example/service/reviews"),
        "ERR_CSR_IDENTITY",
      ],
      [
        "two identities",
        await csrWith([
          { type: "url", value: REVIEWS },
          { type: "url", value: "spiffe://cluster.local/service/ratings" },
        ]),
        "ERR_CSR_IDENTITY",
      ],
      [
        "identity plus a DNS name",
        await csrWith([
          { type: "url", value: REVIEWS },
          { type: "dns", value: "control.example" },
        ]),
        "ERR_CSR_IDENTITY",
      ],
      ["no SAN", await csrWith([]), "ERR_CSR_IDENTITY"],
      ["a DNS name only", await csrWith([{ type: "dns", value: "reviews" }]), "ERR_CSR_IDENTITY"],
      ["identity with a suffix", createCsr(generateKeyPair(), `${REVIEWS}/x`), "ERR_CSR_IDENTITY"],
      ["signature does not match", tampered, "ERR_CSR_SIGNATURE"],
      ["not PEM", "hello", "ERR_CSR_MALFORMED"],
      [
        "a certificate, not a CSR",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "ERR_CSR_MALFORMED",
      ],
      [
        "PEM of garbage",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        "ERR_CSR_MALFORMED",
      ],
      [
        "too large",
        `-----BEGIN CERTIFICATE REQUEST-----\n${"A".repeat(20_000)}\n-----END CERTIFICATE REQUEST-----\n`,
        "ERR_CSR_MALFORMED",
      ],
      ["two blocks", valid + valid, "ERR_CSR_MALFORMED"],
    ];
    for (const [name, pem, code] of cases) await assert.rejects(verifyCsr(pem, REVIEWS), { code }, name);
  });

  it("refuses a CSR whose key is too weak (RSA 1024)", async () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const weak = await Pkcs10CertificateRequestGenerator.create({
      keys: {
        privateKey: rsa.privateKey.toCryptoKey({ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["sign"]),
        publicKey: rsa.publicKey.toCryptoKey({ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["verify"]),
      },
      signingAlgorithm: { name: "RSASSA-PKCS1-v1_5" },
      extensions: [new SubjectAlternativeNameExtension([{ type: "url", value: REVIEWS }])],
    });
    await assert.rejects(verifyCsr(weak.toString("pem"), REVIEWS), { code: "ERR_CSR_KEY" });
  });

  it("property: a CSR is accepted only for exactly the identity it names; mangled bytes never crash", async () => {
    const keys = generateKeyPair();
    const valid = createCsr(keys, REVIEWS);
    const segment = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/).filter((s) => s !== "." && s !== "..");
    await fc.assert(
      fc.asyncProperty(segment, async (name) => {
        const asked = spiffeIdFor("cluster.local", { service: name });
        const csr = createCsr(keys, asked);
        const ok = await verifyCsr(csr, REVIEWS).then(
          () => true,
          (err: { code?: string }) => {
            assert.equal(err.code, "ERR_CSR_IDENTITY");
            return false;
          },
        );
        assert.equal(ok, asked === REVIEWS);
      }),
      { numRuns: 25 },
    );
    const body = valid.split("\n").slice(1, -2).join("");
    await fc.assert(
      fc.asyncProperty(
        fc.nat(body.length - 1),
        fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
        async (at, ch) => {
          const mangled = body.slice(0, at) + ch + body.slice(at + 1);
          const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${mangled.match(/.{1,64}/g)?.join("\n")}\n-----END CERTIFICATE REQUEST-----\n`;
          await verifyCsr(pem, REVIEWS).then(
            () => assert.equal(mangled, body, "a changed CSR was accepted"),
            (err: { code?: string }) => assert.match(String(err.code), /^ERR_CSR_/),
          );
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("SPIFFE IDs", () => {
  it("parses valid IDs and refuses everything else", () => {
    assert.deepEqual(parseSpiffeId(REVIEWS), { trustDomain: "cluster.local", segments: ["service", "reviews"] });
    for (const bad of [
      "spiffe://cluster.local",
      "spiffe://cluster.local/",
      "spiffe://Cluster.local/service/x",
      "spiffe://cluster.local/service/../x",
      "spiffe://cluster.local/service//x",
      "spiffe://cluster.local:8443/service/x",
      "spiffe://user@cluster.local/service/x",
      "spiffe://cluster.local/service/x?y",
      "spiffe://cluster.local/service/x#y",
      "spiffe://cluster.local/service/%2e%2e",
      "https://cluster.local/service/x",
      `spiffe://cluster.local/${"a".repeat(2100)}`,
    ])
      assert.equal(parseSpiffeId(bad), undefined, bad);
    assert.throws(() => spiffeIdFor("cluster.local", { service: ".." }), RangeError);
    assert.equal(
      spiffeIdFor("cluster.local", { namespace: "prod", serviceAccount: "web" }),
      "spiffe://cluster.local/ns/prod/sa/web",
    );
  });

  it("reads one SPIFFE URI SAN and refuses smuggled or doubled ones", () => {
    assert.equal(spiffeIdFromAltNames(`DNS:x, URI:${REVIEWS}`), REVIEWS);
    assert.equal(spiffeIdFromAltNames(`URI:${REVIEWS}, URI:spiffe://cluster.local/service/ratings`), undefined);
    assert.equal(spiffeIdFromAltNames(`URI:"${REVIEWS}, URI:spiffe://x/y"`), undefined);
    assert.equal(spiffeIdFromAltNames("DNS:reviews"), undefined);
    assert.equal(spiffeIdFromAltNames(undefined), undefined);
  });
});

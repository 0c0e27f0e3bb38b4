import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { verifyCsr } from "../../src/security/csr.ts";
import { createCsr } from "../../src/security/csr-request.ts";
import {
  bitString,
  contextConstructed,
  contextPrimitive,
  integer,
  objectIdentifier,
  octetString,
  sequence,
  setOf,
} from "../../src/security/der.ts";
import {
  generateKeyPair,
  privateKeyPem,
  signingParams,
  toSigningKey,
  toVerifyingKey,
} from "../../src/security/keys.ts";
import {
  BasicConstraintsExtension,
  Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Pkcs10CertificateRequestGenerator,
  SubjectAlternativeNameExtension,
} from "../../src/security/x509.ts";
import { changesFor, type Node, preorder, readTree, write } from "./ber-variants.ts";

const REVIEWS = "spiffe://cluster.local/service/reviews";
const EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
const CHALLENGE_PASSWORD = "1.2.840.113549.1.9.7";
const SAN = "2.5.29.17";
const BASIC_CONSTRAINTS = "2.5.29.19";
const KEY_USAGE = "2.5.29.15";
const UNKNOWN = "1.3.6.1.4.1.55555.1";
const ECDSA_SHA256 = sequence(objectIdentifier("1.2.840.10045.4.3.2"));
const keys = generateKeyPair();

const TRUE = Buffer.from([0x01, 0x01, 0xff]);
const uri = (id: string) => contextPrimitive(6, Buffer.from(id, "latin1"));
const ext = (oid: string, value: Buffer, critical?: Buffer) =>
  sequence(objectIdentifier(oid), ...(critical === undefined ? [] : [critical]), octetString(value));
const san = (...names: Buffer[]) => ext(SAN, sequence(...(names.length ? names : [uri(REVIEWS)])));
const attribute = (oid: string, ...values: Buffer[]) => sequence(objectIdentifier(oid), setOf(...values));
const extensionRequest = (...exts: Buffer[]) => attribute(EXTENSION_REQUEST, sequence(...exts));
/** A TLV written by hand, for the encodings der.ts refuses to produce. */
const tlv = (head: number[], ...content: Buffer[]) => Buffer.concat([Buffer.from(head), ...content]);
const withLongLength = (tag: number, content: Buffer) =>
  content.length < 0x80 ? tlv([tag, 0x81, content.length], content) : tlv([tag, 0x82, 0, content.length], content);
const indefinite = (tag: number, content: Buffer) => tlv([tag, 0x80], content, Buffer.from([0, 0]));
/** A SET in the order given (der.ts's setOf sorts, as DER wants). */
const unsortedSet = (...items: Buffer[]) => Buffer.concat([Buffer.from([0x31, Buffer.concat(items).length]), ...items]);
const rdn = (oid: string, value: Buffer) => setOf(sequence(objectIdentifier(oid), value));
const CN = "2.5.4.3";
const O = "2.5.4.10";
const utf8 = (s: string) => tlv([0x0c, Buffer.byteLength(s)], Buffer.from(s));
const printable = (s: string) => tlv([0x13, s.length], Buffer.from(s, "latin1"));

interface Parts {
  version?: Buffer;
  subject?: Buffer;
  attributes?: Buffer[];
}

/** CertificationRequestInfo from parts; by default our own sidecar's request for REVIEWS. */
function info(parts: Parts = {}, key: KeyObject = keys.publicKey): Buffer {
  return sequence(
    parts.version ?? integer(0),
    parts.subject ?? sequence(),
    key.export({ type: "spki", format: "der" }),
    contextConstructed(0, ...(parts.attributes ?? [extensionRequest(san())])),
  );
}

/** The CSR around `requestInfo`, signed by the workload's key over exactly those bytes. */
function signedPem(requestInfo: Buffer, privateKey: KeyObject = keys.privateKey): string {
  const sig = sign("sha256", requestInfo, { key: privateKey, dsaEncoding: "der" });
  const der = sequence(requestInfo, ECDSA_SHA256, bitString(sig));
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der
    .toString("base64")
    .match(/.{1,64}/g)
    ?.join("\n")}\n-----END CERTIFICATE REQUEST-----\n`;
}

const verdict = (pem: string, identity = REVIEWS): Promise<string> =>
  verifyCsr(pem, identity).then(
    () => "accepted",
    (err: { code?: string; name?: string }) => (err.name === "PkiError" ? String(err.code) : `crash: ${err}`),
  );

describe("verifyCsr accepts well-formed requests from every producer", () => {
  it("our sidecar's builder", async () => {
    assert.equal(await verdict(createCsr(keys, REVIEWS)), "accepted");
    assert.equal(await verdict(signedPem(info())), "accepted");
  });

  it("@peculiar/x509's generator, with a subject and critical key usage and basic constraints", async () => {
    const csr = await Pkcs10CertificateRequestGenerator.create({
      name: "CN=reviews, O=Acme Inc",
      keys: { privateKey: toSigningKey(keys.privateKey), publicKey: toVerifyingKey(keys.publicKey) },
      signingAlgorithm: signingParams(keys.privateKey),
      extensions: [
        new SubjectAlternativeNameExtension([{ type: "url", value: REVIEWS }]),
        new KeyUsagesExtension(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment, true),
        new BasicConstraintsExtension(false, undefined, true),
        new Extension(UNKNOWN, false, sequence(integer(7))),
      ],
    });
    assert.equal(await verdict(csr.toString("pem")), "accepted");
  });

  it("openssl req, P-256 and P-384, with a subject and the usual extensions", async () => {
    const dir = mkdtempSync(join(tmpdir(), "meshlet-csr-"));
    try {
      for (const curve of ["P-256", "P-384"]) {
        const key = join(dir, `${curve}.pem`);
        writeFileSync(key, privateKeyPem(generateKeyPairSync("ec", { namedCurve: curve }).privateKey));
        const variants = [
          ["-subj", "/"],
          ["-subj", "/O=Acme Inc/CN=reviews"],
          [
            "-subj",
            "/CN=reviews",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            "-addext",
            "extendedKeyUsage=serverAuth,clientAuth",
          ],
        ];
        for (const args of variants) {
          const out = join(dir, "req.pem");
          execFileSync("openssl", [
            "req",
            "-new",
            "-key",
            key,
            "-addext",
            `subjectAltName=URI:${REVIEWS}`,
            "-out",
            out,
            ...args,
          ]);
          assert.equal(await verdict(readFileSync(out, "utf8")), "accepted", `${curve} ${args.join(" ")}`);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("requests with a subject, a challenge password and a non-critical extension the CA does not know", async () => {
    const subject = sequence(rdn(O, printable("Acme Inc")), rdn(CN, utf8("reviews")));
    const attributes = [
      extensionRequest(san(), ext(UNKNOWN, sequence(integer(1))), ext(BASIC_CONSTRAINTS, sequence(), TRUE)),
      attribute(CHALLENGE_PASSWORD, utf8("secret")),
    ].sort(Buffer.compare);
    assert.equal(await verdict(signedPem(info({ subject, attributes }))), "accepted");
  });
});

describe("verifyCsr refuses non-DER and ambiguous content inside a signed request", () => {
  // Every row is signed over its mutated request info, so the signature verifies and only the inner check refuses it.
  const sanValue = sequence(uri(REVIEWS));
  const cases: [string, () => Buffer, string][] = [
    // The extension request attribute: its value is carried as raw bytes by the library.
    [
      "Extensions SEQUENCE with an indefinite length",
      () => info({ attributes: [attribute(EXTENSION_REQUEST, indefinite(0x30, san()))] }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "Extensions SEQUENCE with a non-minimal length",
      () => info({ attributes: [attribute(EXTENSION_REQUEST, withLongLength(0x30, san()))] }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "an Extension SEQUENCE with a non-minimal length",
      () => info({ attributes: [attribute(EXTENSION_REQUEST, sequence(withLongLength(0x30, san().subarray(2))))] }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "the extension request's SET with two Extensions values",
      () => info({ attributes: [attribute(EXTENSION_REQUEST, sequence(san()), sequence(ext(UNKNOWN, integer(1))))] }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "two extension request attributes (the library reads only the first)",
      () =>
        info({
          attributes: [
            extensionRequest(san()),
            extensionRequest(san(uri("spiffe://cluster.local/service/admin"))),
          ].sort(Buffer.compare),
        }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "an Extension with an element after extnValue",
      () =>
        info({
          attributes: [
            attribute(EXTENSION_REQUEST, sequence(sequence(objectIdentifier(SAN), octetString(sanValue), TRUE))),
          ],
        }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "extnID with a non-minimal OID arc",
      () =>
        info({
          attributes: [
            extensionRequest(san(), sequence(tlv([0x06, 0x04, 0x55, 0x80, 0x1d, 0x13]), octetString(sequence()))),
          ],
        }),
      "ERR_CSR_MALFORMED",
    ],
    // The critical flag.
    [
      "critical written as BOOLEAN 0x01",
      () => info({ attributes: [extensionRequest(ext(SAN, sanValue, Buffer.from([1, 1, 1])))] }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "critical FALSE written out (DER omits a DEFAULT)",
      () => info({ attributes: [extensionRequest(ext(SAN, sanValue, Buffer.from([1, 1, 0])))] }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "an unknown extension marked critical",
      () => info({ attributes: [extensionRequest(san(), ext(UNKNOWN, sequence(), TRUE))] }),
      "ERR_CSR_EXTENSION",
    ],
    // Duplicates.
    ["the SAN extension twice", () => info({ attributes: [extensionRequest(san(), san())] }), "ERR_CSR_MALFORMED"],
    [
      "basicConstraints twice",
      () =>
        info({
          attributes: [
            extensionRequest(san(), ext(BASIC_CONSTRAINTS, sequence()), ext(BASIC_CONSTRAINTS, sequence(TRUE))),
          ],
        }),
      "ERR_CSR_MALFORMED",
    ],
    // Inside the SAN's OCTET STRING.
    [
      "GeneralNames with an indefinite length",
      () => info({ attributes: [extensionRequest(ext(SAN, indefinite(0x30, uri(REVIEWS))))] }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "GeneralNames with a non-minimal length",
      () => info({ attributes: [extensionRequest(ext(SAN, withLongLength(0x30, uri(REVIEWS))))] }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "a byte after GeneralNames inside the OCTET STRING",
      () => info({ attributes: [extensionRequest(ext(SAN, Buffer.concat([sanValue, Buffer.from([0])])))] }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "a second GeneralNames after the first inside the OCTET STRING",
      () =>
        info({
          attributes: [
            extensionRequest(
              ext(SAN, Buffer.concat([sanValue, sequence(uri("spiffe://cluster.local/service/admin"))])),
            ),
          ],
        }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "the URI with a non-minimal length",
      () => info({ attributes: [extensionRequest(ext(SAN, sequence(withLongLength(0x86, Buffer.from(REVIEWS)))))] }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "the URI in the constructed form (BER segments)",
      () =>
        info({
          attributes: [
            extensionRequest(
              ext(
                SAN,
                sequence(
                  contextConstructed(
                    6,
                    tlv([0x16, 20], Buffer.from(REVIEWS.slice(0, 20))),
                    tlv([0x16, REVIEWS.length - 20], Buffer.from(REVIEWS.slice(20))),
                  ),
                ),
              ),
            ),
          ],
        }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "the URI next to a malformed otherName",
      () =>
        info({ attributes: [extensionRequest(ext(SAN, sequence(uri(REVIEWS), contextConstructed(0, integer(1)))))] }),
      "ERR_CSR_MALFORMED",
    ],
    [
      // @peculiar/x509 drops GeneralNames it has no type for, so only the exact bytes show this.
      "the URI next to an otherName the library skips",
      () =>
        info({
          attributes: [
            extensionRequest(
              ext(
                SAN,
                sequence(
                  uri(REVIEWS),
                  contextConstructed(
                    0,
                    objectIdentifier("1.3.6.1.4.1.55555.2"),
                    contextConstructed(0, utf8("admin@corp")),
                  ),
                ),
              ),
            ),
          ],
        }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "an empty extension value",
      () => info({ attributes: [extensionRequest(san(), ext(UNKNOWN, Buffer.alloc(0)))] }),
      "ERR_CSR_MALFORMED",
    ],
    // Inside other extensions' values, which the CA ignores but must still be DER.
    [
      "basicConstraints with a non-minimal INTEGER pathLen",
      () =>
        info({
          attributes: [extensionRequest(san(), ext(BASIC_CONSTRAINTS, sequence(TRUE, tlv([0x02, 0x02, 0x00, 0x01]))))],
        }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "keyUsage with nonzero unused bits",
      () => info({ attributes: [extensionRequest(san(), ext(KEY_USAGE, tlv([0x03, 0x02, 0x07, 0x81])))] }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "an unknown extension's value with an indefinite length",
      () => info({ attributes: [extensionRequest(san(), ext(UNKNOWN, indefinite(0x30, integer(1))))] }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "an unknown extension's value with a BOOLEAN 0x01",
      () => info({ attributes: [extensionRequest(san(), ext(UNKNOWN, sequence(Buffer.from([1, 1, 1]))))] }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "an unknown extension's value with a non-minimal high tag number",
      () => info({ attributes: [extensionRequest(san(), ext(UNKNOWN, tlv([0x9f, 0x80, 0x21, 0x00])))] }),
      "ERR_CSR_MALFORMED",
    ],
    // Other attributes.
    [
      "a challenge password with an indefinite-length SET",
      () =>
        info({
          attributes: [
            extensionRequest(san()),
            sequence(objectIdentifier(CHALLENGE_PASSWORD), indefinite(0x31, utf8("secret"))),
          ].sort(Buffer.compare),
        }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "attributes out of SET OF order",
      () =>
        info({
          attributes: [extensionRequest(san()), attribute(CHALLENGE_PASSWORD, utf8("secret"))]
            .sort(Buffer.compare)
            .reverse(),
        }),
      "ERR_CSR_MALFORMED",
    ],
    // The subject Name.
    [
      "a subject attribute value with a non-minimal length",
      () =>
        info({
          subject: sequence(setOf(sequence(objectIdentifier(CN), withLongLength(0x0c, Buffer.from("reviews"))))),
        }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "a subject RDN with an indefinite length",
      () => info({ subject: sequence(indefinite(0x31, sequence(objectIdentifier(CN), utf8("reviews")))) }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "a subject CN as a constructed UTF8String",
      () => info({ subject: sequence(rdn(CN, tlv([0x2c, 9], utf8("reviews")))) }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "a multi-valued RDN out of SET OF order",
      () =>
        info({
          subject: sequence(
            unsortedSet(
              ...[sequence(objectIdentifier(CN), utf8("reviews")), sequence(objectIdentifier(O), utf8("acme"))]
                .sort(Buffer.compare)
                .reverse(),
            ),
          ),
        }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "a subject PrintableString with '@'",
      () => info({ subject: sequence(rdn(CN, printable("a@b"))) }),
      "ERR_CSR_MALFORMED",
    ],
    [
      "a subject value that is not a string (a context tag)",
      () => info({ subject: sequence(rdn(CN, contextPrimitive(0, Buffer.from("reviews")))) }),
      "ERR_CSR_MALFORMED",
    ],
    ["a subject value that is a SEQUENCE", () => info({ subject: sequence(rdn(CN, sequence())) }), "ERR_CSR_MALFORMED"],
    ["version 1 (RFC 2986 knows only 0)", () => info({ version: integer(1) }), "ERR_CSR_MALFORMED"],
  ];

  for (const [name, mutant, code] of cases)
    it(`refuses ${name}`, async () => {
      assert.equal(await verdict(signedPem(mutant())), code);
    });
});

/** A request using every part verifyCsr reads: subject, two attributes, known, unknown and critical extensions. */
function richInfo(): Buffer {
  const subject = sequence(rdn(O, printable("Acme Inc")), rdn(CN, utf8("reviews")));
  return info({
    subject,
    attributes: [
      extensionRequest(
        san(),
        ext(BASIC_CONSTRAINTS, sequence(TRUE, integer(200)), TRUE),
        ext(KEY_USAGE, bitString(Buffer.from([0x80]))),
        ext(UNKNOWN, sequence(tlv([0x02, 0x02, 0xff, 0x7f]), Buffer.from([0x01, 0x01, 0x00]), tlv([0x9f, 0x1f, 0x00]))),
      ),
      attribute(CHALLENGE_PASSWORD, utf8("secret")),
    ].sort(Buffer.compare),
  });
}

/** What openssl, a second and independent reader, makes of an accepted request. */
function opensslView(pem: string): { verified: boolean; uris: string[] } {
  const text = execFileSync("openssl", ["req", "-noout", "-verify", "-text"], { input: pem, stdio: "pipe" }).toString();
  return { verified: true, uris: [...text.matchAll(/URI:([^\s,]+)/g)].map((m) => m[1] as string) };
}

describe("verifyCsr under systematic and random mutation", () => {
  it("accepts the rich request it is mutated from, as openssl does", async () => {
    const pem = signedPem(richInfo());
    assert.equal(await verdict(pem), "accepted");
    assert.deepEqual(opensslView(pem).uris, [REVIEWS]);
  });

  it("refuses every BER-only re-encoding of every element, inside extension values too (each re-signed)", async () => {
    const tree = readTree(richInfo());
    assert.deepEqual(write(tree, {} as Node, "long length"), richInfo(), "the tree writes back to the request");
    const nodes = preorder(tree);
    const outcomes: string[] = [];
    let tried = 0;
    for (const [i, node] of nodes.entries())
      for (const change of changesFor(node)) {
        const got = await verdict(signedPem(write(tree, node, change)));
        tried++;
        if (got !== "ERR_CSR_MALFORMED")
          outcomes.push(`element ${i} (tag ${node.tag.toString("hex")}), ${change}: ${got}`);
      }
    assert.ok(nodes.length > 40 && tried > 70, `${nodes.length} elements, ${tried} re-encodings`);
    assert.deepEqual(outcomes, []);
  });

  it("property: random edits to the signed bytes never crash or hang, and an accepted one names only the signed identity", async () => {
    const base = richInfo();
    const edit = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), byte: fc.constant(0) }),
    );
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 3 }), async (edits) => {
        let b = Buffer.from(base);
        for (const { kind, at, byte } of edits) {
          const i = at % (b.length + (kind === "insert" ? 1 : 0));
          if (kind === "set") b[i] = byte;
          else if (kind === "insert") b = Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
          else b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
        }
        const pem = signedPem(b);
        const started = performance.now();
        const got = await verdict(pem);
        assert.ok(performance.now() - started < 2000, "verifyCsr took over 2 s");
        assert.match(got, /^(accepted|ERR_CSR_[A-Z]+)$/);
        if (got !== "accepted") return;
        accepted++;
        assert.deepEqual(opensslView(pem).uris, [REVIEWS], "openssl reads another identity");
      }),
      { numRuns: 1000 },
    );
    // Most edits break the structure; some 1-2 % (a letter of the subject, say) leave a valid request, which
    // openssl then read: none at all would mean the comparison above never ran.
    assert.ok(accepted > 0 && accepted < 1000, `${accepted} accepted`);
  });
});

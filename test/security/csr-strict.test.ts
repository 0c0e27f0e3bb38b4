import assert from "node:assert/strict";
import { sign } from "node:crypto";
import { describe, it } from "node:test";
import { verifyCsr } from "../../src/security/csr.ts";
import { requestInfo } from "../../src/security/csr-request.ts";
import { bitString, objectIdentifier, sequence } from "../../src/security/der.ts";
import { generateKeyPair } from "../../src/security/keys.ts";

const REVIEWS = "spiffe://cluster.local/service/reviews";
const ECDSA_SHA256 = sequence(objectIdentifier("1.2.840.10045.4.3.2"));
const keys = generateKeyPair();

const toPem = (der: Buffer, b64 = der.toString("base64")) =>
  `-----BEGIN CERTIFICATE REQUEST-----\n${b64.match(/.{1,64}/g)?.join("\n")}\n-----END CERTIFICATE REQUEST-----\n`;

/** A CSR around `info` with a genuine signature by the workload's key: every mutant below is signed. */
function signedParts(info: Buffer) {
  const sig = sign("sha256", info, { key: keys.privateKey, dsaEncoding: "der" });
  return { info, sig, body: Buffer.concat([info, ECDSA_SHA256, bitString(sig)]) };
}

/** Replaces the first occurrence of `from` in `buf`; the mutant must differ. */
function patch(buf: Buffer, from: number[], to: number[]): Buffer {
  const at = buf.indexOf(Buffer.from(from));
  assert.ok(at >= 0, `pattern ${Buffer.from(from).toString("hex")} not found`);
  return Buffer.concat([buf.subarray(0, at), Buffer.from(to), buf.subarray(at + from.length)]);
}

/** An ECDSA signature (SEQUENCE { INTEGER r, INTEGER s }) re-encoded with a padded, non-minimal r. */
function paddedR(sig: Buffer): Buffer {
  const rLen = sig[3] as number;
  const r = sig.subarray(4, 4 + rLen);
  const rest = sig.subarray(4 + rLen);
  const content = Buffer.concat([Buffer.from([0x02, rLen + 1, 0x00]), r, rest]);
  return Buffer.concat([Buffer.from([0x30, content.length]), content]);
}

/** The identity and its signed parts, lengthened until the request's base64 ends in padding (one row needs that). */
function paddedRequest() {
  for (let n = 0; ; n++) {
    const identity = `${REVIEWS}${"s".repeat(n)}`;
    const parts = signedParts(requestInfo(keys.publicKey, identity));
    if (sequence(parts.body).length % 3 !== 0) return { identity, ...parts };
  }
}

describe("verifyCsr refuses altered CSRs whose signature still verifies (DER only)", () => {
  const good = paddedRequest();
  const der = sequence(good.body);

  it("accepts the unaltered request", async () => {
    await verifyCsr(toPem(der), good.identity);
  });

  // Each row was accepted by verifyCsr before the strict checks (the signature covers the request info only,
  // and @peculiar/x509 parses BER leniently); each must now be ERR_CSR_MALFORMED or ERR_CSR_SIGNATURE.
  // Three length bytes for a length under 64 KiB: never the minimal form.
  const longLength = (content: Buffer) =>
    Buffer.concat([Buffer.from([0x30, 0x83, 0, content.length >> 8, content.length & 0xff]), content]);
  const mutants: [string, () => string, string][] = [
    ["a byte after the DER", () => toPem(Buffer.concat([der, Buffer.from([0])])), "ERR_CSR_MALFORMED"],
    ["a second DER value after it", () => toPem(Buffer.concat([der, Buffer.from([5, 0])])), "ERR_CSR_MALFORMED"],
    [
      "an extra element inside the outer SEQUENCE",
      () => toPem(sequence(good.body, Buffer.from([5, 0]))),
      "ERR_CSR_MALFORMED",
    ],
    [
      "the outer tag a context tag [16] (0xb0)",
      () => toPem(Buffer.concat([Buffer.from([0xb0]), der.subarray(1)])),
      "ERR_CSR_MALFORMED",
    ],
    ["the outer length in a non-minimal long form", () => toPem(longLength(good.body)), "ERR_CSR_MALFORMED"],
    [
      "the outer SEQUENCE with an indefinite length (BER)",
      () => toPem(Buffer.concat([Buffer.from([0x30, 0x80]), good.body, Buffer.from([0, 0])])),
      "ERR_CSR_MALFORMED",
    ],
    [
      "a nonzero unused-bits count in the signature's BIT STRING",
      () =>
        toPem(
          sequence(
            good.info,
            ECDSA_SHA256,
            patch(bitString(good.sig), [0x03, good.sig.length + 1, 0x00], [0x03, good.sig.length + 1, 0x01]),
          ),
        ),
      "ERR_CSR_MALFORMED",
    ],
    [
      "an ECDSA signature with a non-minimal INTEGER (r padded with 0x00)",
      () => toPem(sequence(good.info, ECDSA_SHA256, bitString(paddedR(good.sig)))),
      "ERR_CSR_SIGNATURE",
    ],
    [
      "an ECDSA signature SEQUENCE with a long-form length",
      () =>
        toPem(
          sequence(
            good.info,
            ECDSA_SHA256,
            bitString(Buffer.concat([Buffer.from([0x30, 0x81]), good.sig.subarray(1)])),
          ),
        ),
      "ERR_CSR_SIGNATURE",
    ],
    [
      "a non-minimal length inside the signed request info (re-signed)",
      () => toPem(sequence(signedParts(longLength(requestInfo(keys.publicKey, good.identity).subarray(3))).body)),
      "ERR_CSR_MALFORMED",
    ],
    [
      "version INTEGER 0 in two bytes inside the signed request info (re-signed)",
      () => {
        const info = requestInfo(keys.publicKey, good.identity);
        const content = patch(info.subarray(3), [0x02, 0x01, 0x00], [0x02, 0x02, 0x00, 0x00]);
        return toPem(sequence(signedParts(sequence(content)).body));
      },
      "ERR_CSR_MALFORMED",
    ],
    [
      "non-canonical base64 (nonzero bits before the padding)",
      () => {
        // The last character before the padding carries unused bits; Buffer.from(…, "base64") ignores them.
        const b64 = der.toString("base64");
        const last = b64.replace(/=+$/, "").slice(-1);
        const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const bumped = alphabet[alphabet.indexOf(last) + 1] as string;
        return toPem(der, b64.replace(/.(=+)$/, `${bumped}$1`));
      },
      "ERR_CSR_MALFORMED",
    ],
  ];
  for (const [name, pem, code] of mutants)
    it(`refuses ${name}`, async () => {
      await assert.rejects(verifyCsr(pem(), good.identity), { code });
    });
});

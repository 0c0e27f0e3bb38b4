import { type KeyObject, sign } from "node:crypto";
import {
  bitString,
  contextConstructed,
  contextPrimitive,
  integer,
  objectIdentifier,
  octetString,
  sequence,
  setOf,
} from "./der.ts";
import { PkiError } from "./errors.ts";
import type { KeyPair } from "./keys.ts";

const EXTENSION_REQUEST_OID = "1.2.840.113549.1.9.14";
const SUBJECT_ALT_NAME_OID = "2.5.29.17";
/** RFC 5758 §3.2: ecdsa-with-SHA256 / -SHA384, with no parameters. */
const ECDSA_SIGNATURES = {
  prime256v1: { oid: "1.2.840.10045.4.3.2", hash: "sha256" },
  secp384r1: { oid: "1.2.840.10045.4.3.3", hash: "sha384" },
} as const;
/** GeneralName's uniformResourceIdentifier: [6] IA5String. */
const URI_NAME_TAG = 6;

/**
 * The certificate request a sidecar sends (RFC 2986): an empty subject, its
 * EC public key, and one extension request with exactly one URI SAN, its
 * SPIFFE ID; signed with ECDSA over the request info. Only this one shape is
 * built, through the small encoder of der.ts, so the sidecar never loads
 * @peculiar/x509; the control plane parses and verifies it with
 * @peculiar/x509 (csr.ts), and the tests check that every request built here
 * parses and verifies there.
 */
export function createCsr(keys: KeyPair, identity: string): string {
  const curve = keys.privateKey.asymmetricKeyDetails?.namedCurve;
  const alg = curve === "prime256v1" || curve === "secp384r1" ? ECDSA_SIGNATURES[curve] : undefined;
  if (keys.privateKey.asymmetricKeyType !== "ec" || alg === undefined)
    throw new PkiError("ERR_CSR_KEY", `a sidecar's CSR needs an EC P-256 or P-384 key, not ${curve ?? "(unknown)"}`);
  // IA5String: 7-bit ASCII; a SPIFFE ID is narrower still.
  if (!/^[\x20-\x7e]+$/.test(identity)) throw new PkiError("ERR_CSR_IDENTITY", "identity is not printable ASCII");
  const info = requestInfo(keys.publicKey, identity);
  const signature = sign(alg.hash, info, { key: keys.privateKey, dsaEncoding: "der" });
  const der = sequence(info, sequence(objectIdentifier(alg.oid)), bitString(signature));
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join("\n")}\n-----END CERTIFICATE REQUEST-----\n`;
}

/** CertificationRequestInfo (version 0, empty subject, the key, one extension request with the URI SAN): what is signed. */
export function requestInfo(publicKey: KeyObject, identity: string): Buffer {
  const san = sequence(contextPrimitive(URI_NAME_TAG, Buffer.from(identity, "ascii")));
  const extensions = sequence(sequence(objectIdentifier(SUBJECT_ALT_NAME_OID), octetString(san)));
  return sequence(
    integer(0),
    sequence(),
    publicKey.export({ type: "spki", format: "der" }),
    contextConstructed(0, sequence(objectIdentifier(EXTENSION_REQUEST_OID), setOf(extensions))),
  );
}

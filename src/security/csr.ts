import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { contextPrimitive, sequence } from "./der.ts";
import { derProblem } from "./der-check.ts";
import { PkiError } from "./errors.ts";
import { Extension, Pkcs10CertificateRequest, SubjectAlternativeNameExtension } from "./x509.ts";

const EXTENSION_REQUEST_OID = "1.2.840.113549.1.9.14";
const SUBJECT_ALT_NAME_OID = "2.5.29.17";
/** GeneralName's uniformResourceIdentifier: [6] IA5String. */
const URI_NAME_TAG = 6;
/**
 * Extensions the CA understands (and, all but the SAN, ignores: it writes its
 * own). A request marking any other one critical asks for something the CA
 * would not honour, so it is refused rather than silently dropped.
 */
const KNOWN_EXTENSIONS = new Set([
  SUBJECT_ALT_NAME_OID,
  "2.5.29.14", // subjectKeyIdentifier
  "2.5.29.15", // keyUsage
  "2.5.29.19", // basicConstraints
  "2.5.29.37", // extKeyUsage
]);

/** A P-256 CSR is under 600 bytes of PEM; anything near this is not one of ours. */
export const MAX_CSR_PEM_BYTES = 16 * 1024;

export interface VerifiedCsr {
  publicKey: KeyObject;
}

/**
 * @peculiar/x509's request with the parts the strict checks need, which the
 * library keeps protected: its own DER for what it read, the signed bytes as
 * they arrived, and the schema's reading of the version, subject values and
 * attributes.
 */
class ReceivedCsr extends Pkcs10CertificateRequest {
  reencoded(): Buffer {
    return Buffer.from(new Pkcs10CertificateRequest(this.asn).rawData);
  }

  signedBytes(): Buffer | undefined {
    const raw = this.asn.certificationRequestInfoRaw;
    return raw === undefined ? undefined : Buffer.from(raw);
  }

  version(): number {
    return this.asn.certificationRequestInfo.version;
  }

  /** Each subject attribute's value as the schema read it: a string choice, or raw bytes for anything else. */
  subjectValues(): { type: string; raw: ArrayBuffer | undefined }[] {
    return this.asn.certificationRequestInfo.subject.flatMap((rdn) =>
      rdn.map((atv) => ({ type: atv.type, raw: atv.value.anyValue })),
    );
  }

  /** The values of each extensionRequest attribute, as they arrived. */
  extensionRequests(): Buffer[][] {
    return this.asn.certificationRequestInfo.attributes
      .filter((a) => a.type === EXTENSION_REQUEST_OID)
      .map((a) => a.values.map((v) => Buffer.from(v)));
  }
}

/**
 * One PEM block of DER and nothing else. The library reads BER leniently
 * (trailing bytes, other outer tags, long or indefinite lengths, stray unused
 * bits), and the signature covers only the request info, so an altered
 * request would still verify: only the one DER encoding of what it parsed,
 * in canonical base64, is accepted, as RFC 2986 asks.
 */
function parseCsr(pem: string): ReceivedCsr {
  if (pem.length > MAX_CSR_PEM_BYTES)
    throw new PkiError("ERR_CSR_MALFORMED", `CSR larger than ${MAX_CSR_PEM_BYTES} bytes`);
  const block =
    /^-----BEGIN CERTIFICATE REQUEST-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END CERTIFICATE REQUEST-----\s*$/.exec(pem);
  if (block?.[1] === undefined) throw new PkiError("ERR_CSR_MALFORMED", "not one PEM CERTIFICATE REQUEST block");
  const base64 = block[1].replace(/\r?\n/g, "");
  const der = Buffer.from(base64, "base64");
  if (der.toString("base64") !== base64) throw new PkiError("ERR_CSR_MALFORMED", "CSR is not canonical base64");
  const problem = derProblem(der);
  if (problem !== undefined) throw new PkiError("ERR_CSR_MALFORMED", `CSR is not DER: ${problem}`);
  let csr: ReceivedCsr;
  try {
    csr = new ReceivedCsr(der);
  } catch (err) {
    throw new PkiError("ERR_CSR_MALFORMED", `cannot parse the CSR: ${(err as Error).message}`);
  }
  let canonical: Buffer;
  try {
    canonical = csr.reencoded();
  } catch (err) {
    throw new PkiError("ERR_CSR_MALFORMED", `cannot re-encode the CSR: ${(err as Error).message}`);
  }
  if (!canonical.equals(der)) throw new PkiError("ERR_CSR_MALFORMED", "CSR is not DER (or has bytes after it)");
  // RFC 2986 §4.1: version 0 is the only one.
  if (csr.version() !== 0) throw new PkiError("ERR_CSR_MALFORMED", `CSR version ${csr.version()}`);
  checkAttributeOrder(csr);
  checkSubject(csr);
  return csr;
}

/** NumericString: a string X.520 allows (for some attributes) that the schema's choice does not name. */
const NUMERIC_STRING_TAG = 0x12;

/**
 * A subject attribute's value is a string (X.520's DirectoryString, IA5String
 * for e-mail and domain components, or NumericString). The CA never copies
 * the subject, but a request whose name other readers (OpenSSL) refuse is
 * not one to sign.
 */
function checkSubject(csr: ReceivedCsr): void {
  for (const { type, raw } of csr.subjectValues())
    if (raw !== undefined && new Uint8Array(raw)[0] !== NUMERIC_STRING_TAG)
      throw new PkiError("ERR_CSR_MALFORMED", `CSR subject attribute ${type} is not a string`);
}

/**
 * The attributes are a SET OF under an implicit [0] tag, so the DER walk
 * cannot tell it apart from a sequence: their order is checked here, on
 * encodings that are the received bytes (the request re-encoded equal).
 */
function checkAttributeOrder(csr: ReceivedCsr): void {
  let encodings: Buffer[];
  try {
    encodings = csr.attributes.map((a) => Buffer.from(a.rawData));
  } catch (err) {
    throw new PkiError("ERR_CSR_MALFORMED", `CSR attributes unreadable: ${(err as Error).message}`);
  }
  for (let i = 1; i < encodings.length; i++)
    if (Buffer.compare(encodings[i - 1] as Buffer, encodings[i] as Buffer) > 0)
      throw new PkiError("ERR_CSR_MALFORMED", "CSR attributes are not in DER (SET OF) order");
}

/**
 * The requested extensions: one request with one value, each extension once,
 * each value DER, no unknown critical one. The library reads only the first
 * request's first value, and the DER walk of parseCsr sees neither a FALSE
 * written out for a DEFAULT nor a repeated extension nor inside an
 * extension's OCTET STRING: these checks do.
 */
function checkExtensions(csr: ReceivedCsr): readonly Extension[] {
  const requests = csr.extensionRequests();
  if (requests.length > 1) throw new PkiError("ERR_CSR_MALFORMED", "CSR has more than one extension request");
  const values = requests[0];
  if (values === undefined) return [];
  if (values.length !== 1) throw new PkiError("ERR_CSR_MALFORMED", "CSR extension request does not have one value");
  let extensions: readonly Extension[];
  let canonical: Buffer;
  try {
    extensions = csr.extensions;
    // Re-encoded through the schema: a critical flag of FALSE written out (DER omits a DEFAULT) or anything
    // the library skipped makes the bytes differ.
    canonical = sequence(...extensions.map((e) => Buffer.from(new Extension(e.type, e.critical, e.value).rawData)));
  } catch (err) {
    throw new PkiError("ERR_CSR_MALFORMED", `CSR extension request unreadable: ${(err as Error).message}`);
  }
  if (!canonical.equals(values[0] as Buffer))
    throw new PkiError("ERR_CSR_MALFORMED", "CSR extension request is not DER");
  const seen = new Set<string>();
  for (const e of extensions) {
    if (seen.has(e.type)) throw new PkiError("ERR_CSR_MALFORMED", `CSR requests extension ${e.type} twice`);
    seen.add(e.type);
    // RFC 5280 §4.2: extnValue holds the DER encoding of the extension's value.
    const problem = derProblem(new Uint8Array(e.value));
    if (problem !== undefined)
      throw new PkiError("ERR_CSR_MALFORMED", `CSR extension ${e.type} is not DER: ${problem}`);
    if (e.critical && !KNOWN_EXTENSIONS.has(e.type))
      throw new PkiError("ERR_CSR_EXTENSION", `CSR marks extension ${e.type} critical, which the CA does not support`);
  }
  return extensions;
}

/**
 * The SAN must name exactly `expected`, one URI. The library skips names it
 * cannot read, so once the names match, the value must also be byte for
 * byte the one DER encoding of that single name.
 */
function checkIdentity(extensions: readonly Extension[], expected: string): void {
  const san = extensions.find((e) => e.type === SUBJECT_ALT_NAME_OID);
  let names: { type: string; value: string }[];
  try {
    names = san === undefined ? [] : new SubjectAlternativeNameExtension(san.rawData).names.toJSON();
  } catch (err) {
    throw new PkiError("ERR_CSR_MALFORMED", `CSR subjectAltName unreadable: ${(err as Error).message}`);
  }
  const asked = names.map((n) => `${n.type}:${n.value}`).join(", ") || "nothing";
  if (names.length !== 1 || names[0]?.type !== "url" || names[0].value !== expected)
    throw new PkiError("ERR_CSR_IDENTITY", `CSR asks for ${asked}; this workload may only ask for ${expected}`);
  const exact = sequence(contextPrimitive(URI_NAME_TAG, Buffer.from(expected, "latin1")));
  if (!exact.equals(Buffer.from((san as Extension).value)))
    throw new PkiError("ERR_CSR_MALFORMED", "CSR subjectAltName holds more than the one URI it names");
}

/** Node's name of a WebCrypto hash ("SHA-256" → "sha256"). */
function hashOf(algorithm: object): string | undefined {
  const hash = (algorithm as { hash?: { name?: string } }).hash?.name;
  return hash === undefined ? undefined : hash.replace("-", "").toLowerCase();
}

/**
 * The signature again through OpenSSL, which accepts only DER ECDSA
 * signatures (it re-encodes and compares); the library converts any BER
 * encoding of (r, s) and would accept a non-minimal one.
 */
function checkSignatureEncoding(csr: ReceivedCsr, publicKey: KeyObject): void {
  const signed = csr.signedBytes();
  const hash = hashOf(csr.signatureAlgorithm);
  if (signed === undefined || hash === undefined)
    throw new PkiError("ERR_CSR_SIGNATURE", "CSR signature algorithm not supported");
  const ok = verify(hash, signed, { key: publicKey, dsaEncoding: "der" }, Buffer.from(csr.signature));
  if (!ok) throw new PkiError("ERR_CSR_SIGNATURE", "CSR signature is not DER-encoded");
}

/** Only the key types the CA signs for workloads: EC P-256/P-384, RSA ≥ 2048. */
function checkKey(key: KeyObject): void {
  if (key.asymmetricKeyType === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1" || curve === "secp384r1") return;
    throw new PkiError("ERR_CSR_KEY", `CSR key on curve ${curve ?? "(unknown)"}: use P-256 or P-384`);
  }
  if (key.asymmetricKeyType === "rsa" && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) return;
  throw new PkiError("ERR_CSR_KEY", `CSR key type ${key.asymmetricKeyType ?? "(unknown)"} is refused: use EC P-256`);
}

/**
 * Checks a CSR before the CA signs it: it parses, its key is one we accept,
 * its signature proves possession of the private key, and it asks for
 * exactly `expectedIdentity` as its only SAN. The CA then puts only the
 * expected identity in the certificate; the request's subject and any other
 * extension are ignored, never copied.
 */
export async function verifyCsr(pem: string, expectedIdentity: string): Promise<VerifiedCsr> {
  const csr = parseCsr(pem);
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: "der", type: "spki" });
  } catch (err) {
    throw new PkiError("ERR_CSR_KEY", `CSR public key unusable: ${(err as Error).message}`);
  }
  checkKey(publicKey);
  let signed: boolean;
  try {
    signed = await csr.verify();
  } catch (err) {
    throw new PkiError("ERR_CSR_SIGNATURE", `CSR signature cannot be checked: ${(err as Error).message}`);
  }
  if (!signed) throw new PkiError("ERR_CSR_SIGNATURE", "CSR signature does not match its public key");
  checkSignatureEncoding(csr, publicKey);
  checkIdentity(checkExtensions(csr), expectedIdentity);
  return { publicKey };
}

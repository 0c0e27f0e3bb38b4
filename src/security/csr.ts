import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { PkiError } from "./errors.ts";
import { Pkcs10CertificateRequest, SubjectAlternativeNameExtension } from "./x509.ts";

const SUBJECT_ALT_NAME_OID = "2.5.29.17";

/** A P-256 CSR is under 600 bytes of PEM; anything near this is not one of ours. */
export const MAX_CSR_PEM_BYTES = 16 * 1024;

export interface VerifiedCsr {
  publicKey: KeyObject;
}

/**
 * @peculiar/x509's request with the two parts the strict checks need, which
 * the library keeps protected: its own DER for what it read, and the signed
 * bytes as they arrived.
 */
class ReceivedCsr extends Pkcs10CertificateRequest {
  reencoded(): Buffer {
    return Buffer.from(new Pkcs10CertificateRequest(this.asn).rawData);
  }

  signedBytes(): Buffer | undefined {
    const raw = this.asn.certificationRequestInfoRaw;
    return raw === undefined ? undefined : Buffer.from(raw);
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
  return csr;
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
  const sans = csr.getExtensions(SUBJECT_ALT_NAME_OID);
  let names: { type: string; value: string }[];
  try {
    names = sans.flatMap((e) => new SubjectAlternativeNameExtension(e.rawData).names.toJSON());
  } catch (err) {
    throw new PkiError("ERR_CSR_MALFORMED", `CSR subjectAltName unreadable: ${(err as Error).message}`);
  }
  const asked = names.map((n) => `${n.type}:${n.value}`).join(", ") || "nothing";
  if (names.length !== 1 || names[0]?.type !== "url" || names[0].value !== expectedIdentity)
    throw new PkiError("ERR_CSR_IDENTITY", `CSR asks for ${asked}; this workload may only ask for ${expectedIdentity}`);
  return { publicKey };
}

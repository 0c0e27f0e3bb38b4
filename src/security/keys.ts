import { createPrivateKey, generateKeyPairSync, type KeyObject, type webcrypto } from "node:crypto";

type CryptoKey = webcrypto.CryptoKey;
type SignatureImport = webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;

import { PkiError } from "./errors.ts";

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/**
 * A fresh ECDSA P-256 key: what Istio and Linkerd issue to workloads (small
 * certificates, fast TLS 1.3 handshakes). Generated in-process; the private
 * key is never serialized except into this process's TLS context.
 */
export function generateKeyPair(): KeyPair {
  return generateKeyPairSync("ec", { namedCurve: "P-256" });
}

/** The WebCrypto signature algorithm for a key: ECDSA with the curve's hash, or RSA PKCS#1 v1.5 with SHA-256. */
export function signatureAlgorithm(key: KeyObject): SignatureImport {
  if (key.asymmetricKeyType === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1") return { name: "ECDSA", namedCurve: "P-256" };
    if (curve === "secp384r1") return { name: "ECDSA", namedCurve: "P-384" };
    throw new PkiError("ERR_CA_INVALID", `unsupported EC curve ${curve ?? "(unknown)"}: use P-256 or P-384`);
  }
  if (key.asymmetricKeyType === "rsa") {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)
      throw new PkiError("ERR_CA_INVALID", "RSA keys shorter than 2048 bits are refused");
    return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  }
  throw new PkiError("ERR_CA_INVALID", `unsupported key type ${key.asymmetricKeyType ?? "(unknown)"}: use EC or RSA`);
}

/** The signing parameters @peculiar/x509 wants for a key (ECDSA needs its hash named). */
export function signingParams(key: KeyObject): webcrypto.Algorithm | webcrypto.EcdsaParams {
  const alg = signatureAlgorithm(key);
  if ("namedCurve" in alg) return { name: "ECDSA", hash: alg.namedCurve === "P-384" ? "SHA-384" : "SHA-256" };
  return alg;
}

export type { CryptoKey };

export function toSigningKey(key: KeyObject): CryptoKey {
  return key.toCryptoKey(signatureAlgorithm(key), false, ["sign"]);
}

export function toVerifyingKey(key: KeyObject): CryptoKey {
  return key.toCryptoKey(signatureAlgorithm(key), true, ["verify"]);
}

export function privateKeyPem(key: KeyObject): string {
  return key.export({ type: "pkcs8", format: "pem" }).toString();
}

export function loadPrivateKey(pem: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new PkiError("ERR_CA_INVALID", `not a PEM private key: ${(err as Error).message}`);
  }
}

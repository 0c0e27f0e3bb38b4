import { readFileSync } from "node:fs";
import { errorMessage, UsageError } from "../common/errors.ts";
import { type CaMaterial, CertificateAuthority } from "./ca.ts";
import { splitPem } from "./pem.ts";

/**
 * Reads `--ca-cert`/`--ca-key` and checks them as the CA would use them, so a
 * wrong file stops `meshlet control` at start with a usage error rather than
 * failing the first CSR. The chain is normalized (PEM blocks only) so every
 * node stores and compares the same text.
 */
export function loadOperatorCa(certFile: string, keyFile: string): CaMaterial {
  let certText: string;
  let keyPem: string;
  try {
    certText = readFileSync(certFile, "utf8");
    keyPem = readFileSync(keyFile, "utf8");
  } catch (err) {
    throw new UsageError(`--ca-cert/--ca-key: ${errorMessage(err)}`);
  }
  const material = { certChainPem: splitPem(certText, "CERTIFICATE").join(""), keyPem };
  try {
    CertificateAuthority.load(material);
  } catch (err) {
    throw new UsageError(`--ca-cert ${certFile} / --ca-key ${keyFile}: ${errorMessage(err)}`);
  }
  return material;
}

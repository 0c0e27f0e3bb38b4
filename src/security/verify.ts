import { X509Certificate } from "node:crypto";
import { PkiError } from "./errors.ts";
import { spiffeIdOf } from "./identity.ts";
import { splitPem } from "./pem.ts";

/**
 * Checks a workload certificate chain the way the TLS layer does, for the
 * places that see a certificate outside a handshake (a sidecar checking what
 * the control plane issued it, tests): each certificate within its validity
 * at `now`, each issued and signed by the next or by a bundle root, ending at
 * a root of the bundle; then the leaf's SPIFFE ID, compared to `expected`
 * when given. Returns the identity.
 */
export function verifyWorkloadChain(chainPem: string, bundlePem: string, now: number, expected?: string): string {
  let chain: X509Certificate[];
  let roots: X509Certificate[];
  try {
    chain = splitPem(chainPem, "CERTIFICATE").map((p) => new X509Certificate(p));
    roots = splitPem(bundlePem, "CERTIFICATE").map((p) => new X509Certificate(p));
  } catch (err) {
    throw new PkiError("ERR_CERT_MALFORMED", `cannot parse certificate: ${(err as Error).message}`);
  }
  const leaf = chain[0];
  if (leaf === undefined) throw new PkiError("ERR_CERT_MALFORMED", "no certificate");
  let current = leaf;
  for (let depth = 0; ; depth++) {
    checkValidity(current, now);
    const root = roots.find((r) => current.checkIssued(r) && current.verify(r.publicKey));
    if (root !== undefined) {
      checkValidity(root, now);
      break;
    }
    const next = chain[depth + 1];
    if (next === undefined || !next.ca || !current.checkIssued(next) || !current.verify(next.publicKey))
      throw new PkiError("ERR_CERT_UNKNOWN_ISSUER", `certificate of ${current.subject} is not issued by a trusted CA`);
    current = next;
  }
  const identity = spiffeIdOf(leaf);
  if (identity === undefined) throw new PkiError("ERR_CERT_IDENTITY", "certificate carries no SPIFFE ID");
  if (expected !== undefined && identity !== expected)
    throw new PkiError("ERR_CERT_IDENTITY", `certificate is for ${identity}, expected ${expected}`);
  return identity;
}

function checkValidity(cert: X509Certificate, now: number): void {
  if (now < cert.validFromDate.getTime())
    throw new PkiError("ERR_CERT_NOT_YET_VALID", `certificate of ${cert.subject} is valid from ${cert.validFrom}`);
  if (now > cert.validToDate.getTime())
    throw new PkiError("ERR_CERT_EXPIRED", `certificate of ${cert.subject} expired at ${cert.validTo}`);
}

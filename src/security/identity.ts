import type { X509Certificate } from "node:crypto";
import { certificateDerProblem } from "./der-check.ts";
import { parseSpiffeId } from "./spiffe.ts";

/**
 * The SPIFFE ID of a peer certificate, from Node's rendering of its SANs
 * ("DNS:a, URI:spiffe://…"). A workload certificate carries exactly one URI
 * SAN and it must be a valid SPIFFE ID; Node quotes values with special
 * characters (`URI:"…"`), which fail the SPIFFE check, so a crafted SAN
 * cannot smuggle a second identity through a comma. Undefined otherwise,
 * and for a certificate that is not DER: OpenSSL reads some BER, Go and
 * BoringSSL (Envoy) peers do not, and the mesh CA only writes DER, so such a
 * certificate was not made by it.
 */
export function spiffeIdOf(cert: X509Certificate): string | undefined {
  if (certificateDerProblem(cert.raw) !== undefined) return undefined;
  return spiffeIdFromAltNames(cert.subjectAltName);
}

export function spiffeIdFromAltNames(altNames: string | undefined): string | undefined {
  if (altNames === undefined) return undefined;
  let found: string | undefined;
  for (const part of altNames.split(", ")) {
    if (!part.startsWith("URI:")) continue;
    if (found !== undefined) return undefined;
    found = part.slice(4);
  }
  return found !== undefined && parseSpiffeId(found) !== undefined ? found : undefined;
}

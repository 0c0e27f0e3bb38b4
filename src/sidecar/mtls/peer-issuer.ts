import type { X509Certificate } from "node:crypto";

/**
 * Whether a peer certificate, already verified to a root of the trust bundle, was issued by one of the mesh's
 * issuing CAs (`issuers`, from the control plane): its issuer name is theirs and their key signed it. Chaining
 * to the root is not enough when the mesh CA is an operator's intermediate: every other intermediate under
 * that root also chains to it, and could issue a certificate naming any SPIFFE ID. No list (an older control
 * plane): the root check stands alone. One signature check per handshake, never per request.
 */
export function issuedByMesh(cert: X509Certificate, issuers: readonly X509Certificate[] | undefined): boolean {
  if (issuers === undefined) return true;
  return issuers.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
}

import { type KeyObject, type X509Certificate as NodeCertificate, randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { PkiError } from "./errors.ts";
import { signingParams, toSigningKey, toVerifyingKey } from "./keys.ts";
import { NAME_PART, NODE_ORGANIZATION, type NodeName } from "./node-name.ts";
import {
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  X509CertificateGenerator,
} from "./x509.ts";

export function nodeSubject(name: NodeName): string {
  if (!NAME_PART.test(name.nodeId) || !NAME_PART.test(name.clusterId))
    throw new PkiError(
      "ERR_CSR_IDENTITY",
      `a node id and cluster id are 1-128 of [A-Za-z0-9._-], got "${name.nodeId}"`,
    );
  return `O=${NODE_ORGANIZATION}, OU=${name.clusterId}, CN=${name.nodeId}`;
}

/** DNS names and IPs as subjectAltName entries (what HTTPS clients check the address they dialled against). */
export function serverSans(names: readonly string[]): { type: "dns" | "ip"; value: string }[] {
  if (names.length === 0)
    throw new PkiError("ERR_CSR_IDENTITY", "a server certificate needs at least one DNS name or IP");
  return names.map((n) => (isIP(n) !== 0 ? { type: "ip" as const, value: n } : { type: "dns" as const, value: n }));
}

/**
 * A self-signed node certificate: what a founding node presents before the mesh CA exists (the CA is created by
 * the first leader, which needs the peers to talk first). Peers accept it only inside the founding window.
 */
export async function selfSignedNodeCertificate(
  keys: { privateKey: KeyObject; publicKey: KeyObject },
  name: NodeName,
  names: readonly string[],
  o: { now: number; ttlMs: number },
): Promise<string> {
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: `01${randomBytes(15).toString("hex")}`,
    name: nodeSubject(name),
    notBefore: new Date(o.now - 5 * 60_000),
    notAfter: new Date(o.now + o.ttlMs),
    signingAlgorithm: signingParams(keys.privateKey),
    keys: { privateKey: toSigningKey(keys.privateKey), publicKey: toVerifyingKey(keys.publicKey) },
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment, true),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth], false),
      new SubjectAlternativeNameExtension(serverSans(names), false),
    ],
  });
  return cert.toString("pem");
}

/**
 * Whether a certificate signs itself (a founding node's). Not X509Certificate.checkIssued: OpenSSL refuses an
 * issuer without keyCertSign, which a leaf does not have.
 */
export function isSelfSigned(cert: NodeCertificate): boolean {
  return cert.issuer === cert.subject && cert.verify(cert.publicKey);
}

import type { X509Certificate as NodeCertificate } from "node:crypto";
import { certificateDerProblem } from "./der-check.ts";

/**
 * How a control-plane node certificate is named, apart from how one is made (node-cert.ts), so that a
 * sidecar checking the control plane's certificate does not load the X.509 generator.
 *
 * A control-plane node certificate names its node in the subject, not in a SPIFFE URI: O is this constant, OU
 * the cluster id, CN the node id. The mesh CA sets subjects itself (a workload's is `CN=spiffe://...`), so no
 * sidecar can obtain a certificate that reads as a node's, and a node's certificate is never a workload identity.
 */
export const NODE_ORGANIZATION = "meshlet control plane";

export const NAME_PART = /^[A-Za-z0-9._-]{1,128}$/;

export interface NodeName {
  nodeId: string;
  clusterId: string;
}

/**
 * The node a certificate names (subject O, OU, CN), or undefined for any other certificate, and for one that
 * is not DER: node certificates are made here (DER), and in the founding window a self-signed one is taken from
 * the network on its name alone, read through OpenSSL, which accepts some BER.
 */
export function nodeNameOf(cert: NodeCertificate): NodeName | undefined {
  if (certificateDerProblem(cert.raw) !== undefined) return undefined;
  const fields = new Map<string, string[]>();
  for (const line of cert.subject.split("\n")) {
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    fields.set(key, [...(fields.get(key) ?? []), line.slice(eq + 1)]);
  }
  const [o, ou, cn] = (["O", "OU", "CN"] as const).map((k) => fields.get(k));
  if (o?.length !== 1 || ou?.length !== 1 || cn?.length !== 1 || o[0] !== NODE_ORGANIZATION) return undefined;
  const name = { clusterId: ou[0] as string, nodeId: cn[0] as string };
  return NAME_PART.test(name.nodeId) && NAME_PART.test(name.clusterId) ? name : undefined;
}

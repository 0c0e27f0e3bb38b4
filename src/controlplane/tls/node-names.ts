import { isIP } from "node:net";
import { parseHostPort } from "../../common/address.ts";

/** Names every node serves locally (probes, the CLI on the node's host): no other node can be reached at them. */
export const LOOPBACK_NAMES: readonly string[] = ["127.0.0.1", "::1", "localhost"];

/** A DNS name (letters, digits, hyphens, dots; no wildcard) or an IP address. */
export function isCertificateName(name: string): boolean {
  if (isIP(name) !== 0) return true;
  return (
    name.length <= 253 && name.split(".").every((label) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label))
  );
}

/**
 * The DNS names and IPs a node certificate signed through the API may carry for node `id`: its id, the host of
 * its address in the Raft configuration (in Kubernetes its stable peer name), loopback, and the names the
 * operator gave every node (--certificate-names, e.g. the client Service's). Never another member's address:
 * a client dialling that member would take this node for it.
 */
export function claimableNames(id: string, memberAddress: string, extraNames: readonly string[]): Set<string> {
  const names = new Set([...LOOPBACK_NAMES, ...extraNames]);
  if (isCertificateName(id)) names.add(id);
  if (memberAddress !== "") {
    try {
      names.add(parseHostPort(memberAddress, "member address").host);
    } catch {
      // A member without a parseable address claims no name by it.
    }
  }
  return names;
}

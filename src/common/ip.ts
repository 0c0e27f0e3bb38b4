import { isIP, isIPv4, SocketAddress } from "node:net";

const MAPPED = "::ffff:";

/**
 * An IP literal in one spelling, so two spellings of one address compare equal: IPv6 compressed and lower case
 * ("0:0:0:0:0:0:0:1" is "::1"), and an IPv4-mapped IPv6 address ("::ffff:10.0.0.1", how a dual-stack socket shows
 * an IPv4 peer) as the IPv4 address. Undefined when `text` is not an IP literal (a host name, empty).
 */
export function canonicalIp(text: string): string | undefined {
  const family = isIP(text);
  if (family === 0) return undefined;
  if (family === 4) return text;
  const ipv6 = new SocketAddress({ address: text, family: "ipv6" }).address;
  const tail = ipv6.startsWith(MAPPED) ? ipv6.slice(MAPPED.length) : "";
  return isIPv4(tail) ? tail : ipv6;
}

/**
 * The IP of a gRPC call's peer, canonical: grpc-js gives "address:port" with an IPv6 address unbracketed
 * ("::ffff:10.0.0.1:5000"), so the port is taken off first; "[::1]:5000" and a bare address are read too.
 * Undefined when it names no IP (a Unix socket, "unknown").
 */
export function peerIp(peer: string): string | undefined {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(peer);
  if (bracketed !== null) return canonicalIp(bracketed[1] ?? "");
  const colon = peer.lastIndexOf(":");
  const host = colon > 0 && /^\d+$/.test(peer.slice(colon + 1)) ? canonicalIp(peer.slice(0, colon)) : undefined;
  return host ?? canonicalIp(peer);
}

/** 0.0.0.0 or :: in any spelling: a listener on every address, never an address to dial. */
export function isUnspecified(host: string): boolean {
  const ip = canonicalIp(host);
  return ip === "0.0.0.0" || ip === "::";
}

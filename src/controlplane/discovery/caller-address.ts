import { canonicalIp, peerIp } from "../../common/ip.ts";

/**
 * Which addresses a sidecar may register (meshlet control --registration-address): `peer`, only the address its
 * connection comes from, so a stolen or misused sidecar token cannot point a service's traffic at another host;
 * `any`, whatever it says, for sidecars behind NAT or a proxy whose connection address is not the one their peers
 * reach (Istio and Linkerd take the pod IP from the platform instead; meshlet has only the connection).
 */
export const REGISTRATION_ADDRESS_MODES = ["peer", "any"] as const;
export type RegistrationAddressMode = (typeof REGISTRATION_ADDRESS_MODES)[number];

export const ADDRESS_NOT_CALLER = "ERR_ADDRESS_NOT_CALLER";

/**
 * Why registering `address` from a connection whose peer is `peer` (call.getPeer()) is refused, or undefined when
 * it is allowed. Both sides are compared as canonical IPs (IPv4-mapped IPv6 as IPv4); a host name is refused, since
 * resolving a name the caller chose would let it name any host.
 */
export function callerAddressDenial(mode: RegistrationAddressMode, peer: string, address: string): string | undefined {
  if (mode === "any") return undefined;
  const caller = peerIp(peer);
  if (caller !== undefined && canonicalIp(address) === caller) return undefined;
  return `${ADDRESS_NOT_CALLER}: the registered address "${address}" is not the address this connection comes from (${caller ?? peer}); register the connection's address (meshlet sidecar --advertise-address), or run the control plane with --registration-address any when sidecars are behind NAT or a proxy`;
}

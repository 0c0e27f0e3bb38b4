/**
 * The nat rules of transparent interception, as data: the `iptables` argument lists that install them, and the
 * ones that remove whatever of them a table listing (`iptables -t nat -S`) shows. Istio's istio-init does the
 * same job; these rules are meshlet's own, in chains of its own, so --clean removes exactly them.
 *
 *   PREROUTING -p tcp -> MESHLET_INBOUND: excluded ports RETURN; the app's ports -> MESHLET_IN_REDIRECT (:15006)
 *   OUTPUT -p tcp -> MESHLET_OUTPUT: the proxy's uid RETURN (its own upstream calls are not looped back),
 *     loopback RETURN, excluded ports and CIDRs RETURN, everything else -> MESHLET_REDIRECT (:15001)
 */
export interface InterceptOptions {
  proxyUid: number;
  outboundPort: number;
  inboundPort: number;
  /** Ports whose inbound TCP goes to the sidecar; "*" = every port but the excluded and the sidecar's own. */
  inboundPorts: number[] | "*";
  excludeInboundPorts: number[];
  excludeOutboundPorts: number[];
  excludeOutboundCidrs: string[];
  /** The sidecar's own listening ports, never redirected inbound (admin, inbound). */
  proxyPorts: number[];
}

export const CHAINS = {
  inbound: "MESHLET_INBOUND",
  inRedirect: "MESHLET_IN_REDIRECT",
  outbound: "MESHLET_OUTPUT",
  redirect: "MESHLET_REDIRECT",
} as const;

const JUMPS: readonly [string, string][] = [
  ["PREROUTING", CHAINS.inbound],
  ["OUTPUT", CHAINS.outbound],
];

type Args = string[];
const nat = (...args: string[]): Args => ["-t", "nat", ...args];

export function installPlan(o: InterceptOptions): Args[] {
  const plan: Args[] = Object.values(CHAINS).map((chain) => nat("-N", chain));
  plan.push(nat("-A", CHAINS.redirect, "-p", "tcp", "-j", "REDIRECT", "--to-ports", String(o.outboundPort)));
  plan.push(nat("-A", CHAINS.inRedirect, "-p", "tcp", "-j", "REDIRECT", "--to-ports", String(o.inboundPort)));
  for (const port of o.excludeInboundPorts)
    plan.push(nat("-A", CHAINS.inbound, "-p", "tcp", "--dport", String(port), "-j", "RETURN"));
  if (o.inboundPorts === "*") {
    for (const port of o.proxyPorts)
      plan.push(nat("-A", CHAINS.inbound, "-p", "tcp", "--dport", String(port), "-j", "RETURN"));
    plan.push(nat("-A", CHAINS.inbound, "-p", "tcp", "-j", CHAINS.inRedirect));
  } else {
    for (const port of o.inboundPorts)
      plan.push(nat("-A", CHAINS.inbound, "-p", "tcp", "--dport", String(port), "-j", CHAINS.inRedirect));
  }
  plan.push(nat("-A", CHAINS.outbound, "-m", "owner", "--uid-owner", String(o.proxyUid), "-j", "RETURN"));
  plan.push(nat("-A", CHAINS.outbound, "-d", "127.0.0.1/32", "-j", "RETURN"));
  for (const port of o.excludeOutboundPorts)
    plan.push(nat("-A", CHAINS.outbound, "-p", "tcp", "--dport", String(port), "-j", "RETURN"));
  for (const cidr of o.excludeOutboundCidrs) plan.push(nat("-A", CHAINS.outbound, "-d", cidr, "-j", "RETURN"));
  plan.push(nat("-A", CHAINS.outbound, "-p", "tcp", "-j", CHAINS.redirect));
  // The jumps last: until they exist nothing is intercepted, so a failure half-way leaves traffic as it was.
  for (const [from, to] of JUMPS) plan.push(nat("-A", from, "-p", "tcp", "-j", to));
  return plan;
}

/**
 * What removes meshlet's rules from a table that `iptables -t nat -S` printed as `listing`: the jumps first
 * (each as many times as it appears), then the chains' rules, then the chains. Nothing for what is not there.
 */
export function cleanPlan(listing: string): Args[] {
  const lines = listing.split("\n").map((l) => l.trim());
  const plan: Args[] = [];
  const ours = new Set<string>(Object.values(CHAINS));
  for (const line of lines) {
    const m = /^-A (PREROUTING|OUTPUT) (.*)-j (MESHLET_[A-Z_]+)$/.exec(line);
    if (m?.[1] !== undefined && m[3] !== undefined && ours.has(m[3]))
      plan.push(nat("-D", m[1], ...splitArgs(`${m[2] ?? ""}-j ${m[3]}`)));
  }
  const present = Object.values(CHAINS).filter((c) => lines.includes(`-N ${c}`));
  for (const chain of present) plan.push(nat("-F", chain));
  for (const chain of present) plan.push(nat("-X", chain));
  return plan;
}

function splitArgs(text: string): string[] {
  return text.split(/\s+/).filter((s) => s !== "");
}

export function formatPlan(plan: readonly Args[], binary = "iptables"): string {
  return plan.map((args) => `${binary} ${args.join(" ")}\n`).join("");
}

/** "80,443" -> ports; "" -> none. */
export function parsePorts(flag: string, value: string): number[] {
  return value
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "")
    .map((p) => {
      const n = Number(p);
      if (!/^\d{1,5}$/.test(p) || n < 1 || n > 65535) throw new RangeError(`${flag}: "${p}" is not a port (1-65535)`);
      return n;
    });
}

/** IPv4 CIDRs only ("10.0.0.0/8", "192.168.1.1" as /32): the rules are installed with iptables, not ip6tables. */
export function parseCidrs(flag: string, value: string): string[] {
  return value
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "")
    .map((c) => {
      const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(c);
      const octets = m?.slice(1, 5).map(Number) ?? [];
      const bits = m?.[5] === undefined ? 32 : Number(m[5]);
      if (m === null || octets.some((o) => o > 255) || bits > 32)
        throw new RangeError(`${flag}: "${c}" is not an IPv4 address or CIDR (a.b.c.d/n)`);
      return `${octets.join(".")}/${bits}`;
    });
}

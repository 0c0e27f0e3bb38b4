import { UsageError } from "../../common/errors.ts";
import { MESHLET_VERSION } from "../../common/version.ts";

/** The flags of the Kubernetes commands, apart from their registration so the lazily loaded actions share them. */
export const DEFAULT_IMAGE = `meshlet:${MESHLET_VERSION}`;

export interface InjectFlags {
  filename?: string[];
  image: string;
  control: string;
  nativeSidecar: boolean;
  intercept: boolean;
  proxyUid: number | string;
}

export interface IptablesFlags {
  proxyUid: number | string;
  outboundPort: number | string;
  inboundPort: number | string;
  inboundPorts: string;
  excludeInboundPorts: string;
  excludeOutboundPorts: string;
  excludeOutboundCidrs: string;
  clean?: boolean;
  dryRun?: boolean;
  iptables: string;
}

export function parseUid(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n > 2 ** 31 - 1)
      throw new UsageError(`${flag}: expected a uid (0 or more), got "${value}"`);
    return n;
  };
}

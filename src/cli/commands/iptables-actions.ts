import { execFile } from "node:child_process";
import { MeshletError, UsageError } from "../../common/errors.ts";
import {
  cleanPlan,
  formatPlan,
  type InterceptOptions,
  installPlan,
  parseCidrs,
  parsePorts,
} from "../../kube/iptables.ts";
import { ADMIN_PORT } from "../../kube/names.ts";
import type { IptablesFlags } from "./kube-flags.ts";

function runIptables(binary: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err === null) resolve(stdout);
      else
        reject(
          new MeshletError("ERR_IPTABLES", `${binary} ${args.join(" ")}: ${stderr.trim() || err.message}`, {
            cause: err,
          }),
        );
    });
  });
}

function options(flags: IptablesFlags): InterceptOptions {
  try {
    const inbound = Number(flags.inboundPort);
    return {
      proxyUid: Number(flags.proxyUid),
      outboundPort: Number(flags.outboundPort),
      inboundPort: inbound,
      inboundPorts: flags.inboundPorts.trim() === "*" ? "*" : parsePorts("--inbound-ports", flags.inboundPorts),
      excludeInboundPorts: parsePorts("--exclude-inbound-ports", flags.excludeInboundPorts),
      excludeOutboundPorts: parsePorts("--exclude-outbound-ports", flags.excludeOutboundPorts),
      excludeOutboundCidrs: parseCidrs("--exclude-outbound-cidrs", flags.excludeOutboundCidrs),
      proxyPorts: [inbound, ADMIN_PORT],
    };
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(err.message);
    throw err;
  }
}

/** Removes what an earlier run left, then installs the rules: running it twice leaves one set. */
export async function iptables(flags: IptablesFlags): Promise<void> {
  const install = flags.clean === true ? [] : installPlan(options(flags));
  if (flags.dryRun === true && flags.clean !== true) {
    process.stdout.write(formatPlan(install, flags.iptables));
    return;
  }
  const listing = await runIptables(flags.iptables, ["-t", "nat", "-S"]);
  const plan = [...cleanPlan(listing), ...install];
  if (flags.dryRun === true) {
    process.stdout.write(formatPlan(plan, flags.iptables));
    return;
  }
  for (const args of plan) await runIptables(flags.iptables, args);
  process.stderr.write(
    `meshlet iptables: ${flags.clean === true ? "removed meshlet's rules" : `${install.length} rules installed`}\n`,
  );
}

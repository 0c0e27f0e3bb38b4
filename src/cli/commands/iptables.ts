import { type Command, Option } from "commander";
import { UsageError } from "../../common/errors.ts";
import { envOption, parsePositiveInt } from "../options.ts";
import { type IptablesFlags, parseUid } from "./kube-flags.ts";

function port(flag: string) {
  const positive = parsePositiveInt(flag);
  return (value: string): number => {
    const n = positive(value);
    if (n > 65535) throw new UsageError(`${flag}: expected a port (1-65535), got "${value}"`);
    return n;
  };
}

export function registerIptables(program: Command): void {
  program
    .command("iptables")
    .description(
      "install (or --clean) the nat rules that send a pod's TCP traffic through its sidecar (needs NET_ADMIN)",
    )
    .addOption(
      envOption("--proxy-uid <uid>", "uid of the sidecar: its traffic is never redirected", "1337").argParser(
        parseUid("--proxy-uid"),
      ),
    )
    .addOption(
      envOption("--outbound-port <port>", "the sidecar's outbound listener", "15001").argParser(
        port("--outbound-port"),
      ),
    )
    .addOption(
      envOption("--inbound-port <port>", "the sidecar's inbound listener", "15006").argParser(port("--inbound-port")),
    )
    .addOption(envOption("--inbound-ports <list>", "app ports whose inbound TCP goes to the sidecar (* = all)", "*"))
    .addOption(envOption("--exclude-inbound-ports <list>", "inbound ports never redirected", ""))
    .addOption(envOption("--exclude-outbound-ports <list>", "outbound destination ports never redirected", ""))
    .addOption(envOption("--exclude-outbound-cidrs <list>", "outbound destinations (IPv4 CIDRs) never redirected", ""))
    .addOption(new Option("--clean", "remove meshlet's rules and chains, and install nothing").env("MESHLET_CLEAN"))
    .addOption(new Option("--dry-run", "print the iptables commands instead of running them").env("MESHLET_DRY_RUN"))
    .addOption(envOption("--iptables <path>", "the iptables binary (nft backend in the image)", "iptables"))
    .action(async (flags: IptablesFlags) => (await import("./iptables-actions.ts")).iptables(flags));
}

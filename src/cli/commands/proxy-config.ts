import type { Command } from "commander";
import { UsageError } from "../../common/errors.ts";
import { type OutputFormat, outputOption } from "../output.ts";
import type { Section } from "./proxy-config-actions.ts";

const SECTIONS: readonly Section[] = ["routes", "clusters", "endpoints", "policies"];

export function registerProxyConfig(program: Command): void {
  program
    .command("proxy-config")
    .description("show what one sidecar runs, from its admin API: routes, clusters (services), endpoints, policies")
    .argument("<admin>", "the sidecar's admin address, host:port or http://host:port (its --admin)")
    .argument("[section]", `${SECTIONS.join(" | ")} (default: all of them)`)
    .addOption(outputOption())
    .action(async (admin: string, section: string | undefined, flags: { output?: OutputFormat }) => {
      if (section !== undefined && !(SECTIONS as readonly string[]).includes(section))
        throw new UsageError(`unknown section "${section}" (expected ${SECTIONS.join(", ")})`);
      await (await import("./proxy-config-actions.ts")).proxyConfig(admin, section as Section | undefined, flags);
    });
}

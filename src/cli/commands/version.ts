import type { Command } from "commander";
import { MESHLET_VERSION } from "../../common/version.ts";
import type { VersionResponse } from "../../controlplane/resources/api-types.ts";
import { request } from "../control-client.ts";
import { envOption, serverOption } from "../options.ts";
import { type OutputFormat, outputOption, structured } from "../output.ts";

interface VersionFlags {
  client?: boolean;
  output?: OutputFormat;
  server: string;
}

/** `meshlet version`: this CLI's release and the control plane's (GET /v1/version), as `kubectl version`. */
export function registerVersion(program: Command): void {
  program
    .command("version")
    .description("print the client's version and the control plane's")
    .addOption(envOption("--client", "the client's version only (no server asked)"))
    .addOption(outputOption())
    .addOption(serverOption())
    .action(async (flags: VersionFlags) => {
      const client = { version: MESHLET_VERSION, nodeJs: process.versions.node };
      let server: VersionResponse | undefined;
      let failure: unknown;
      if (flags.client !== true) {
        try {
          server = await request<VersionResponse>(flags.server, "GET", "v1/version");
        } catch (err) {
          failure = err;
        }
      }
      const out = await structured(flags.output, { clientVersion: client, serverVersion: server ?? null });
      if (out !== undefined) process.stdout.write(out);
      else if (flags.output === "name")
        process.stdout.write(`${client.version}\n${server === undefined ? "" : `${server.version}\n`}`);
      else {
        const wide = flags.output === "wide";
        process.stdout.write(`Client Version: ${client.version}${wide ? ` (Node.js ${client.nodeJs})` : ""}\n`);
        if (server !== undefined)
          process.stdout.write(
            `Server Version: ${server.version} (node ${server.node}${wide ? `, Node.js ${server.nodeJs}` : ""})\n`,
          );
      }
      // Printed first, then failed: a script still sees the client's version, and exit 3 says why no server's.
      if (failure !== undefined) throw failure;
    });
}

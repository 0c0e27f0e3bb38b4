import { Command } from "commander";
import { controlCaPem, setControlAccess } from "../common/control-access.ts";
import { MESHLET_VERSION } from "../common/version.ts";
import { caFileOption, logLevelOption, tokenOption } from "./options.ts";

/** The `meshlet` command itself: its description, version and the global flags, with no subcommand yet. */
export function rootCommand(): Command {
  return (
    new Command("meshlet")
      .description("meshlet: a service mesh for Node.js — sidecar proxy and Raft-backed control plane")
      .version(MESHLET_VERSION)
      .addOption(logLevelOption())
      // Global: taken before or after any subcommand, and handed to every control-plane client before it runs.
      .addOption(tokenOption())
      .addOption(caFileOption())
      .hook("preAction", (_root, action) => {
        const { token, caFile } = action.optsWithGlobals<{ token?: string; caFile?: string }>();
        setControlAccess({ ...(token === undefined ? {} : { token }), ...(caFile === undefined ? {} : { caFile }) });
        // A wrong --ca-file is a usage error here (exit 2), before any command dials with it.
        controlCaPem();
      })
      .showHelpAfterError()
      .configureOutput({ outputError: (message, write) => write(message) })
  );
}

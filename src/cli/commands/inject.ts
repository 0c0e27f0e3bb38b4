import { type Command, Option } from "commander";
import { envOption } from "../options.ts";
import { DEFAULT_IMAGE, type InjectFlags, parseUid } from "./kube-flags.ts";

/** Checked in the action (not by commander), so an unknown flag is named as such before a missing -f. */
const filenameOption = () => new Option("-f, --filename <path...>", "file, directory or - for stdin (repeatable)");

const actions = () => import("./inject-actions.ts");

export function registerInject(program: Command): void {
  program
    .command("inject")
    .description("add the meshlet sidecar to Kubernetes workloads (writes the manifests to stdout)")
    .addOption(filenameOption())
    .addOption(envOption("--image <ref>", "image of the sidecar and init containers", DEFAULT_IMAGE))
    .addOption(
      envOption(
        "--control <list>",
        "control-plane gRPC addresses host:port,...",
        "meshlet-control.meshlet-system.svc:15010",
      ),
    )
    .addOption(
      new Option(
        "--no-native-sidecar",
        "the sidecar as a plain container (before Kubernetes 1.29), app commands wrapped in `meshlet await --`",
      ).env("MESHLET_NO_NATIVE_SIDECAR"),
    )
    .addOption(
      new Option("--no-intercept", "no iptables init container: the app calls the sidecar at 127.0.0.1:15001").env(
        "MESHLET_NO_INTERCEPT",
      ),
    )
    .addOption(
      envOption("--proxy-uid <uid>", "uid the sidecar runs as (exempt from interception)", "1337").argParser(
        parseUid("--proxy-uid"),
      ),
    )
    .action(async (flags: InjectFlags) => (await actions()).inject(flags));
  program
    .command("uninject")
    .description("remove what `meshlet inject` added to Kubernetes workloads (writes the manifests to stdout)")
    .addOption(filenameOption())
    .action(async (flags: { filename?: string[] }) => (await actions()).uninject(flags));
}

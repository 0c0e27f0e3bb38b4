import { type Command, Option } from "commander";
import { UsageError } from "../../common/errors.ts";
import { callApi } from "../../controlplane/http/client.ts";
import { envName, envOption, serverOption, serverUrl } from "../options.ts";
import { type OutputFormat, outputOption, structured } from "../output.ts";

interface Common {
  server: string;
}

/** The implementation of the config center's commands is loaded when one runs. */
const center = () => import("./config-center.ts");

const keyPath = (key: string) => `/v1/config/${key.split("/").map(encodeURIComponent).join("/")}`;

/** -o of the config center's commands, whose formats differ (`watch` prints text or JSON lines only). */
function formatOption(formats: string[], fallback: string): Option {
  const flags = "-o, --output <format>";
  return new Option(flags, formats.join(" | "))
    .env(envName(flags))
    .default(fallback)
    .argParser((value: string) => {
      if (!formats.includes(value)) throw new UsageError(`-o: expected one of ${formats.join(", ")}, got "${value}"`);
      return value;
    });
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function registerConfig(program: Command): void {
  const config = program.command("config").description("read and write the app-config center (revisioned key/value)");
  config
    .command("get <key>")
    .description("print a value (linearizable unless --stale); the revision goes to stderr")
    .addOption(serverOption())
    .option("--stale", "read this node's replica without confirming with the leader")
    .addOption(outputOption())
    .action(async (key: string, o: Common & { stale?: boolean; output?: OutputFormat }) => {
      const r = await callApi(o.server, "GET", `${keyPath(key)}${o.stale ? "?consistency=stale" : ""}`);
      const revision = Number(r.headers.get("etag") ?? Number.NaN);
      // The value as UTF-8 text: json/yaml are for scripts that want the revision with it.
      const out = await structured(o.output, { key, value: r.body.toString("utf8"), revision });
      if (out !== undefined) process.stdout.write(out);
      else if (o.output === "name") process.stdout.write(`${key}\n`);
      else {
        process.stdout.write(r.body);
        process.stderr.write(`revision ${r.headers.get("etag") ?? "?"}\n`);
      }
    });
  config
    .command("put <key> [value]")
    .description("set a value (from the argument, or stdin when omitted); prints the new revision")
    .addOption(serverOption())
    .addOption(envOption("--if-match <revision>", "only if the key is at this revision (0 = only if absent)"))
    .action(async (key: string, value: string | undefined, o: Common & { ifMatch?: string }) => {
      const body = value ?? (await readStdin());
      const headers: Record<string, string> = o.ifMatch === undefined ? {} : { "if-match": o.ifMatch };
      const r = await callApi(o.server, "PUT", keyPath(key), { body, headers });
      process.stdout.write(`${(JSON.parse(r.body.toString("utf8")) as { revision: number }).revision}\n`);
    });
  config
    .command("delete <key>")
    .description("delete a key")
    .addOption(serverOption())
    .addOption(envOption("--if-match <revision>", "only if the key is at this revision"))
    .action(async (key: string, o: Common & { ifMatch?: string }) => {
      const headers: Record<string, string> = o.ifMatch === undefined ? {} : { "if-match": o.ifMatch };
      await callApi(o.server, "DELETE", keyPath(key), { headers });
    });
  config
    .command("list [prefix]")
    .description("list keys (with their revisions) under a prefix")
    .addOption(serverOption())
    .addOption(outputOption())
    .action(async (prefix: string | undefined, o: Common & { output?: OutputFormat }) => {
      const r = await callApi(o.server, "GET", `/v1/config?prefix=${encodeURIComponent(prefix ?? "")}`);
      const entries = JSON.parse(r.body.toString("utf8")) as { key: string; revision: number }[];
      const out = await structured(o.output, entries);
      if (out !== undefined) process.stdout.write(out);
      else if (o.output === "name") process.stdout.write(entries.map((e) => `${e.key}\n`).join(""));
      else for (const e of entries) process.stdout.write(`${e.key}\t${e.revision}\n`);
    });
  config
    .command("watch <key>")
    .description("print every change of a key (or of every key under a prefix) as it comes, until interrupted")
    .addOption(serverOption().argParser((v) => v))
    .option("--prefix", "watch every key that starts with KEY")
    .option("--revision <n>", "start at this revision (default: changes from now on)")
    .addOption(formatOption(["text", "json"], "text"))
    .addHelpText(
      "after",
      "\n--server may list several nodes (a,b,c): the watch resumes on the next when its node goes away.",
    )
    .action(async (key: string, o: Common & { prefix?: boolean; revision?: string; output: string }) => {
      const revision = o.revision === undefined ? undefined : Number(o.revision);
      if (revision !== undefined && (!/^\d{1,15}$/.test(o.revision ?? "") || revision < 1))
        throw new UsageError(`--revision: expected a revision, got "${o.revision}"`);
      const server = o.server
        .split(",")
        .map((s) => serverUrl(s.trim()))
        .join(",");
      await (await center()).watch(key, {
        server,
        output: o.output,
        ...(o.prefix === undefined ? {} : { prefix: o.prefix }),
        ...(revision === undefined ? {} : { revision }),
      });
    });
  config
    .command("release <key>")
    .description("gray release: a new value for some instances only (a ConfigRelease)")
    .requiredOption("--value <value>", "the value the selected instances get")
    .option("--percent <p>", "a share of instances, stable by instance id (growing it keeps those already in)")
    .option("--labels <k=v,...>", "the instances with all these labels")
    .option("--instances <id,...>", "these instances")
    .option("--name <name>", "the release's name (default: derived from the key, so a second release updates it)")
    .addOption(serverOption())
    .addOption(formatOption(["text", "json", "yaml", "name"], "text"))
    .action(async (key: string, o: Parameters<Awaited<ReturnType<typeof center>>["release"]>[1]) =>
      (await center()).release(key, o),
    );
  config
    .command("promote <key>")
    .description("make the key's release its value for every instance")
    .addOption(serverOption())
    .addOption(formatOption(["text", "json", "yaml"], "text"))
    .action(async (key: string, o: Common & { output: string }) => (await center()).promote(key, o));
  config
    .command("rollback <key>")
    .description(
      "withdraw the key's release (every instance back on the base value), or with --to restore an earlier value",
    )
    .option("--to <revision>", "restore the value the key had from this revision (see meshlet config history)")
    .addOption(serverOption())
    .addOption(formatOption(["text", "json", "yaml"], "text"))
    .action(async (key: string, o: Common & { to?: string; output: string }) => (await center()).rollback(key, o));
  config
    .command("history <key>")
    .description("the key's changes, newest first: revision, action, when and who")
    .addOption(serverOption())
    .addOption(formatOption(["table", "wide", "json", "yaml"], "table"))
    .action(async (key: string, o: Common & { output: string }) => (await center()).history(key, o));
  config
    .command("status <key>")
    .description("which connected instances have which value of the key, and whether they acknowledged it")
    .addOption(serverOption())
    .addOption(formatOption(["table", "wide", "json", "yaml"], "table"))
    .action(async (key: string, o: Common & { output: string }) => (await center()).status(key, o));
}

import type { Command } from "commander";
import { callApi } from "../../controlplane/http/client.ts";
import { envOption, serverOption } from "../options.ts";
import { type OutputFormat, outputOption, structured } from "../output.ts";

interface Common {
  server: string;
}

const keyPath = (key: string) => `/v1/config/${key.split("/").map(encodeURIComponent).join("/")}`;

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
}

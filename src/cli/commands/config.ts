import type { Command } from "commander";
import { callApi } from "../../controlplane/http/client.ts";
import { envOption, serverOption } from "../options.ts";

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
    .action(async (key: string, o: Common & { stale?: boolean }) => {
      const r = await callApi(o.server, "GET", `${keyPath(key)}${o.stale ? "?consistency=stale" : ""}`);
      process.stdout.write(r.body);
      process.stderr.write(`revision ${r.headers.get("etag") ?? "?"}\n`);
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
    .action(async (prefix: string | undefined, o: Common) => {
      const r = await callApi(o.server, "GET", `/v1/config?prefix=${encodeURIComponent(prefix ?? "")}`);
      for (const e of JSON.parse(r.body.toString("utf8")) as { key: string; revision: number }[]) {
        process.stdout.write(`${e.key}\t${e.revision}\n`);
      }
    });
}

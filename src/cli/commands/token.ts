import type { Command } from "commander";
import { UsageError } from "../../common/errors.ts";
import { durationFlag, envOption, serverOption } from "../options.ts";
import { type OutputFormat, outputOption, renderTable, structured } from "../output.ts";

interface Common {
  server: string;
}

interface CreateFlags extends Common {
  role: string;
  name: string;
  service?: string;
  prefix?: string;
  ttl?: string;
}

/** What the control plane lists (auth/store.ts TokenView); declared here so the CLI loads no control-plane code. */
interface TokenRow {
  name: string;
  role: string;
  service?: string;
  prefix?: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

const json = { "content-type": "application/json" };
const ROLES = ["admin", "operator", "config-writer", "read-only", "sidecar"];

/** Usage errors found before calling: the role, and the binding exactly where the role has one. */
function checkCreateFlags(o: CreateFlags): void {
  if (!ROLES.includes(o.role)) throw new UsageError(`--role: expected one of ${ROLES.join(", ")}, got "${o.role}"`);
  if (o.role === "sidecar" && o.service === undefined)
    throw new UsageError("--service: a sidecar token is bound to the service it acts for");
  if (o.role !== "sidecar" && o.service !== undefined) throw new UsageError("--service: only for --role sidecar");
  if (o.role === "config-writer" && o.prefix === undefined)
    throw new UsageError("--prefix: a config-writer token is bound to the config keys it may write");
  if (o.role !== "config-writer" && o.prefix !== undefined)
    throw new UsageError("--prefix: only for --role config-writer");
  if (o.ttl !== undefined) durationFlag("--ttl", o.ttl);
}

function state(t: TokenRow, now: number): string {
  if (t.revokedAt !== null) return "revoked";
  if (t.expiresAt !== null && Date.parse(t.expiresAt) <= now) return "expired";
  return "active";
}

/** `meshlet token create|list|revoke`: bearer tokens of the control plane (docs/security.md). */
export function registerToken(program: Command): void {
  const token = program.command("token").description("create, list and revoke control-plane tokens (admin)");
  token
    .command("create")
    .description("create a token; prints only the token (shown this once)")
    .addOption(
      envOption("--role <role>", "admin | operator | config-writer | read-only | sidecar").makeOptionMandatory(),
    )
    .addOption(envOption("--name <name>", "the token's name (list, revoke, logs)").makeOptionMandatory())
    .addOption(envOption("--service <service>", "role sidecar: the service it may register and watch"))
    .addOption(envOption("--prefix <prefix>", "role config-writer: the config keys it may write"))
    .addOption(envOption("--ttl <duration>", "expire after this long, e.g. 24h (default: never)"))
    .addOption(serverOption())
    .action(async (o: CreateFlags) => {
      checkCreateFlags(o);
      const { callApi } = await import("../../controlplane/http/client.ts");
      const body = {
        name: o.name,
        role: o.role,
        ...(o.service === undefined ? {} : { service: o.service }),
        ...(o.prefix === undefined ? {} : { prefix: o.prefix }),
        ...(o.ttl === undefined ? {} : { ttl: o.ttl }),
      };
      const r = await callApi(o.server, "POST", "/v1/tokens", { headers: json, body: JSON.stringify(body) });
      const created = JSON.parse(r.body.toString("utf8")) as { token?: unknown };
      if (typeof created.token !== "string") throw new UsageError("the control plane answered without a token");
      process.stdout.write(`${created.token}\n`);
    });
  token
    .command("list")
    .description("names, roles, bindings and expiry of every token (never the secrets)")
    .addOption(serverOption())
    .addOption(outputOption())
    .action(async (o: Common & { output?: OutputFormat }) => {
      const { callApi } = await import("../../controlplane/http/client.ts");
      const r = await callApi(o.server, "GET", "/v1/tokens");
      const { items } = JSON.parse(r.body.toString("utf8")) as { items: TokenRow[] };
      const out = await structured(o.output, { items });
      if (out !== undefined) return void process.stdout.write(out);
      if (o.output === "name") return void process.stdout.write(items.map((t) => `token/${t.name}\n`).join(""));
      const now = Date.now();
      const rows = items.map((t) => [
        t.name,
        t.role,
        t.service ?? (t.prefix === undefined ? "" : `${t.prefix}*`),
        state(t, now),
        t.expiresAt ?? "never",
      ]);
      process.stdout.write(renderTable(["NAME", "ROLE", "BOUND TO", "STATE", "EXPIRES"], rows));
    });
  token
    .command("revoke")
    .description("revoke a token: refused at once by every member")
    .argument("<name>", "the token's name")
    .addOption(serverOption())
    .action(async (name: string, o: Common) => {
      const { callApi } = await import("../../controlplane/http/client.ts");
      const r = await callApi(o.server, "DELETE", `/v1/tokens/${encodeURIComponent(name)}`);
      const { revoked } = JSON.parse(r.body.toString("utf8")) as { revoked: boolean };
      process.stderr.write(revoked ? `token ${name} revoked\n` : `token ${name} was already revoked\n`);
    });
}

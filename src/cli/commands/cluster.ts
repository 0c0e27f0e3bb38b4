import type { Command } from "commander";
import { callApi } from "../../controlplane/http/client.ts";
import { serverOption } from "../options.ts";
import { type OutputFormat, outputOption, structured } from "../output.ts";

interface Common {
  server: string;
}

/** The body of GET /v1/cluster. */
export interface ClusterView {
  id: string;
  leader: string;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  members: { id: string; address: string; role: string; matchIndex: number }[];
  /** Ms since this node last heard from its leader (0 on the leader). */
  leaderContactMs?: number;
  /** No leader, or none heard from lately: `leader` may name a node that is gone. */
  stale?: boolean;
  /** "degraded" while the node cannot write its data dir (then `storage` says why). */
  health?: "ok" | "degraded";
  storage?: { writable: boolean; code?: string; error?: string; since?: string };
}

const json = { "content-type": "application/json" };

export function registerCluster(program: Command): void {
  const cluster = program.command("cluster").description("show and change control-plane membership");
  cluster
    .command("status")
    .description("leader, term, indexes and members as seen by --server")
    .addOption(serverOption())
    .addOption(outputOption())
    .option("--json", "the same as -o json")
    .action(async (o: Common & { json?: boolean; output?: OutputFormat }) => {
      const r = await callApi(o.server, "GET", "/v1/cluster");
      const v = JSON.parse(r.body.toString("utf8")) as ClusterView;
      const format = o.json === true ? "json" : o.output;
      const out = await structured(format, v);
      if (out !== undefined) {
        process.stdout.write(out);
        return;
      }
      if (format === "name") {
        process.stdout.write(v.members.map((m) => `member/${m.id}\n`).join(""));
        return;
      }
      process.stdout.write(
        `node ${v.id}  leader ${v.leader || "(none)"}  term ${v.term}  commit ${v.commitIndex}  applied ${v.appliedIndex}\n`,
      );
      if (v.stale === true && v.leader !== "")
        process.stdout.write(`(stale: no word from leader ${v.leader} for ${v.leaderContactMs ?? "?"} ms)\n`);
      if (v.health === "degraded")
        process.stdout.write(
          `DEGRADED: writes refused (${v.storage?.code}) since ${v.storage?.since}: ${v.storage?.error}\n`,
        );
      const wide = format === "wide";
      process.stdout.write(`ID\tROLE\tMATCH${wide ? "\tLAG" : ""}\tADDRESS\n`);
      for (const m of v.members) {
        const lag = wide ? `\t${v.leader === v.id ? Math.max(0, v.commitIndex - m.matchIndex) : "?"}` : "";
        process.stdout.write(
          `${m.id}${m.id === v.leader ? "*" : ""}\t${m.role}\t${m.matchIndex}${lag}\t${m.address}\n`,
        );
      }
    });
  cluster
    .command("add <id> <address>")
    .description("add a member (a learner unless --voter)")
    .addOption(serverOption())
    .option("--voter", "add as a voter right away")
    .action(async (id: string, address: string, o: Common & { voter?: boolean }) => {
      await callApi(o.server, "POST", "/v1/cluster/members", {
        headers: json,
        body: JSON.stringify({ id, address, learner: o.voter !== true }),
      });
      process.stdout.write(`added ${id} as ${o.voter ? "voter" : "learner"}\n`);
    });
  cluster
    .command("promote <id>")
    .description("make a learner a voter")
    .addOption(serverOption())
    .action(async (id: string, o: Common) => {
      await callApi(o.server, "POST", `/v1/cluster/members/${encodeURIComponent(id)}/promote`);
      process.stdout.write(`promoted ${id}\n`);
    });
  cluster
    .command("remove <id>")
    .description("remove a member")
    .addOption(serverOption())
    .action(async (id: string, o: Common) => {
      await callApi(o.server, "DELETE", `/v1/cluster/members/${encodeURIComponent(id)}`);
      process.stdout.write(`removed ${id}\n`);
    });
  cluster
    .command("transfer <id>")
    .description("hand leadership to a voter")
    .addOption(serverOption())
    .action(async (id: string, o: Common) => {
      await callApi(o.server, "POST", "/v1/cluster/leader", { headers: json, body: JSON.stringify({ id }) });
      process.stdout.write(`leader is now ${id}\n`);
    });
}

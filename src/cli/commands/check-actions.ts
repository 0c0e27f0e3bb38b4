/** `meshlet check`, loaded when it runs: a list of named checks, each passing, warning or failing, as `linkerd check`. */
import { MeshletError } from "../../common/errors.ts";
import { MESHLET_VERSION } from "../../common/version.ts";
import { formatFinding } from "../../config/finding.ts";
import type {
  AnalyzeResponse,
  SidecarsResponse,
  SidecarView,
  VersionResponse,
} from "../../controlplane/resources/api-types.ts";
import { request } from "../control-client.ts";
import { durationFlag } from "../options.ts";
import { type OutputFormat, renderTable, structured } from "../output.ts";
import { refusedBy, warningsOf } from "../sidecar-view.ts";
import type { ClusterView } from "./cluster.ts";

export interface CheckFlags {
  /** How long sidecars get to acknowledge what they were sent before the check calls them behind. */
  wait: string;
  maxClockSkew: string;
  output?: OutputFormat;
  server: string;
}

export type CheckStatus = "ok" | "warning" | "fail";

export interface CheckResult {
  category: "control plane" | "resources" | "sidecars";
  name: string;
  status: CheckStatus;
  message: string;
  /** What to do about it, for a check that did not pass. */
  hint?: string;
}

/** Entries a follower may trail the commit index by and still count as caught up. */
const MAX_FOLLOWER_LAG = 1000;
const MARK: Record<CheckStatus, string> = { ok: "√", warning: "‼", fail: "×" };

export async function check(flags: CheckFlags): Promise<void> {
  const results = await runChecks(flags);
  const out = await structured(flags.output, { ok: !results.some((r) => r.status === "fail"), checks: results });
  if (out !== undefined) process.stdout.write(out);
  else if (flags.output === "name")
    process.stdout.write(
      results
        .filter((r) => r.status !== "ok")
        .map((r) => `${r.name}\n`)
        .join(""),
    );
  else if (flags.output === "wide")
    process.stdout.write(
      renderTable(
        ["CATEGORY", "CHECK", "STATUS", "MESSAGE", "HINT"],
        results.map((r) => [r.category, r.name, r.status, r.message, r.hint ?? "-"]),
      ),
    );
  else process.stdout.write(renderChecks(results));
  const failed = results.filter((r) => r.status === "fail");
  if (failed.length > 0) throw new MeshletError("ERR_CHECK_FAILED", `${failed.length} check(s) failed`);
}

export function renderChecks(results: readonly CheckResult[]): string {
  let out = "";
  let category = "";
  for (const r of results) {
    if (r.category !== category) {
      category = r.category;
      out += `${out === "" ? "" : "\n"}${category}\n${"-".repeat(category.length)}\n`;
    }
    out += `${MARK[r.status]} ${r.message}\n`;
    if (r.hint !== undefined && r.status !== "ok") out += `    see: ${r.hint}\n`;
  }
  const failed = results.some((r) => r.status === "fail");
  return `${out}\nStatus check results are ${failed ? MARK.fail : MARK.ok}\n`;
}

/**
 * The checks, in order. The first (reachability) throws when the control
 * plane cannot be reached at all (exit 3); every other problem is a result.
 */
export async function runChecks(flags: CheckFlags): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const add = (r: CheckResult) => results.push(r);
  const before = Date.now();
  const version = await request<VersionResponse>(flags.server, "GET", "v1/version");
  const after = Date.now();
  add({
    category: "control plane",
    name: "reachable",
    status: "ok",
    message: `control plane reachable at ${flags.server} (node ${version.node}, meshlet ${version.version})`,
  });
  add(
    version.version === MESHLET_VERSION
      ? {
          category: "control plane",
          name: "version",
          status: "ok",
          message: `same version as this CLI (${MESHLET_VERSION})`,
        }
      : {
          category: "control plane",
          name: "version",
          status: "warning",
          message: `the control plane runs meshlet ${version.version}, this CLI ${MESHLET_VERSION}`,
          hint: "upgrade the older one; resources may use fields the other does not know",
        },
  );
  add(clockCheck(version, before, after, durationFlag("--max-clock-skew", flags.maxClockSkew)));

  const cluster = await request<ClusterView>(flags.server, "GET", "v1/cluster");
  add(
    cluster.leader === ""
      ? {
          category: "control plane",
          name: "leader",
          status: "fail",
          message: `no leader known to node ${cluster.id} (term ${cluster.term}): changes cannot be made`,
          hint: "a majority of voters must be up and reach each other (meshlet cluster status on each node)",
        }
      : {
          category: "control plane",
          name: "leader",
          status: "ok",
          message: `leader ${cluster.leader} (term ${cluster.term}, ${cluster.members.filter((m) => m.role === "voter").length} voter(s))`,
        },
  );
  const behind = cluster.commitIndex - cluster.appliedIndex;
  add(
    behind <= MAX_FOLLOWER_LAG
      ? {
          category: "control plane",
          name: "applied",
          status: "ok",
          message: `node ${cluster.id} has applied the committed log (index ${cluster.appliedIndex})`,
        }
      : {
          category: "control plane",
          name: "applied",
          status: "fail",
          message: `node ${cluster.id} is ${behind} entries behind its commit index`,
          hint: "look at its log and meshlet_wal_fsync_duration_seconds",
        },
  );
  if (cluster.leader === cluster.id) {
    const lagging = cluster.members.filter(
      (m) => m.id !== cluster.id && cluster.commitIndex - m.matchIndex > MAX_FOLLOWER_LAG,
    );
    add(
      lagging.length === 0
        ? {
            category: "control plane",
            name: "replication",
            status: "ok",
            message: "every member has replicated the log",
          }
        : {
            category: "control plane",
            name: "replication",
            status: "fail",
            message: `behind the leader: ${lagging.map((m) => `${m.id} (${cluster.commitIndex - m.matchIndex} entries)`).join(", ")}`,
            hint: "a member that is down or partitioned; meshlet_raft_follower_lag_entries",
          },
    );
  }

  const analysis = await request<AnalyzeResponse>(flags.server, "GET", "v1/analyze");
  const errors = analysis.findings.filter((f) => f.severity === "error");
  add(
    errors.length === 0
      ? {
          category: "resources",
          name: "resources",
          status: "ok",
          message: `stored resources pass the sidecars' check (revision ${analysis.revision})`,
        }
      : {
          category: "resources",
          name: "resources",
          status: "fail",
          message: `stored resources sidecars refuse: ${errors.map(formatFinding).join("; ")}`,
          hint: "meshlet analyze",
        },
  );

  const warnings = analysis.findings.filter((f) => f.severity === "warning");
  if (warnings.length > 0)
    add({
      category: "resources",
      name: "warnings",
      status: "warning",
      message: `${warnings.length} warning(s) about the stored resources (dangling references, rules that never match, ...)`,
      hint: "meshlet analyze",
    });
  const known = new Set(analysis.findings.map(formatFinding));
  results.push(...(await sidecarChecks(flags, known)));
  return results;
}

/** The control plane's clock against this machine's, the request's round trip being the uncertainty. */
function clockCheck(v: VersionResponse, before: number, after: number, maxSkewMs: number): CheckResult {
  const skew = v.time - (before + after) / 2;
  const uncertainty = (after - before) / 2;
  const text = `clock of node ${v.node} within ${Math.round(Math.abs(skew))} ms of this machine (± ${Math.round(uncertainty)} ms)`;
  if (Math.abs(skew) - uncertainty <= maxSkewMs)
    return { category: "control plane", name: "clock", status: "ok", message: text };
  return {
    category: "control plane",
    name: "clock",
    status: "fail",
    message: `clock of node ${v.node} is ${Math.round(skew)} ms ${skew > 0 ? "ahead of" : "behind"} this machine (more than ${maxSkewMs} ms)`,
    hint: "run NTP (chrony, systemd-timesyncd) on both",
  };
}

/**
 * Sidecars: connected, and each has ACKed the latest snapshot it was sent.
 * One still waiting gets --wait to answer (an ACK is sent 100 ms late on
 * purpose, and a push may be on its way); a NACK fails at once, naming what
 * was refused.
 */
async function sidecarChecks(flags: CheckFlags, known: ReadonlySet<string>): Promise<CheckResult[]> {
  const deadline = Date.now() + durationFlag("--wait", flags.wait, true);
  let view = await request<SidecarsResponse>(flags.server, "GET", "v1/sidecars");
  while (view.sidecars.some(pending) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    view = await request<SidecarsResponse>(flags.server, "GET", "v1/sidecars");
  }
  const out: CheckResult[] = [];
  const services = new Set(view.sidecars.map((s) => s.service));
  out.push(
    view.sidecars.length === 0
      ? {
          category: "sidecars",
          name: "connected",
          status: "warning",
          message: "no sidecar is connected",
          hint: "meshlet sidecar --control HOST:PORT next to each app instance",
        }
      : {
          category: "sidecars",
          name: "connected",
          status: "ok",
          message: `${view.sidecars.length} sidecar(s) connected, of ${services.size} service(s)`,
        },
  );
  for (const node of view.unreachable) {
    out.push({
      category: "sidecars",
      name: "nodes",
      status: "fail",
      message: `node ${node} did not answer: its sidecars are not checked`,
      hint: "meshlet cluster status",
    });
  }
  let acked = 0;
  const sidecarWarnings = new Map<string, SidecarView[]>();
  for (const s of view.sidecars) {
    const refused = refusedBy(s);
    if (refused.length > 0) {
      out.push({
        category: "sidecars",
        name: "acked",
        status: "fail",
        message: `sidecar ${s.id} (${s.service}) rejected version ${s.lastNack?.version ?? s.lastPushedVersion}: ${refused.join("; ")}`,
        hint: "meshlet analyze; meshlet proxy-config SIDECAR_ADMIN",
      });
    } else if (pending(s)) {
      out.push({
        category: "sidecars",
        name: "acked",
        status: "fail",
        message: `sidecar ${s.id} (${s.service}) has not acknowledged version ${s.lastPushedVersion} (it runs ${s.lastAckedVersion || "nothing acknowledged"})`,
        hint: "a sidecar that is stuck or overloaded; look at its log and /ready",
      });
    } else acked++;
    // Only what depends on the sidecar (a global limit without its --redis): the rest is the resources' warnings.
    for (const w of warningsOf(s)) {
      const line = formatFinding(w);
      if (known.has(line)) continue;
      const list = sidecarWarnings.get(line) ?? [];
      list.push(s);
      sidecarWarnings.set(line, list);
    }
  }
  for (const [line, list] of sidecarWarnings) {
    const who = list.length === 1 ? `sidecar ${list[0]?.id}` : `${list.length} sidecars`;
    const services = [...new Set(list.map((s) => s.service))].join(", ");
    out.push({ category: "sidecars", name: "warnings", status: "warning", message: `${who} (${services}): ${line}` });
  }
  if (view.sidecars.length > 0 && acked === view.sidecars.length)
    out.push({
      category: "sidecars",
      name: "acked",
      status: "ok",
      message: "every sidecar runs the latest snapshot it was sent",
    });
  return out;
}

function pending(s: SidecarView): boolean {
  return s.lastNack === null && s.lastAckedVersion < s.lastPushedVersion;
}

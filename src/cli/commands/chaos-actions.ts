import { userInfo } from "node:os";
import { stringify } from "yaml";
import { UsageError } from "../../common/errors.ts";
import { parseDuration } from "../../config/duration.ts";
import { ConfigError, parseResources } from "../../config/load.ts";
import { API_VERSION, type FaultExperiment, type FaultExperimentSpec } from "../../config/resources.ts";
import type { ExperimentListResponse } from "../../controlplane/faults/api.ts";
import { callApi } from "../../controlplane/http/client.ts";
import { readInputs } from "../input-files.ts";
import { byteSizeFlag } from "../options.ts";
import { type OutputFormat, renderTable, structured } from "../output.ts";
import { describeFault, describeRemaining, describeTarget } from "./chaos-view.ts";

export interface ChaosStartFlags {
  server: string;
  filename?: string;
  delay?: string;
  abort?: string;
  reset?: boolean;
  blackhole?: boolean;
  bandwidth?: string;
  service?: string;
  percent?: string;
  side?: string;
  labels?: string;
  instancePercent?: string;
  for?: string;
  name?: string;
  reason?: string;
  output?: OutputFormat;
}

/** Who starts or stops an experiment, until API tokens name the caller: the OS user. */
function whoAmI(): string {
  try {
    return userInfo().username;
  } catch {
    return "unknown";
  }
}

function headers(): Record<string, string> {
  return { "content-type": "application/json", "x-meshlet-user": whoAmI() };
}

function percentFlag(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 100)
    throw new UsageError(`${flag}: expected a percentage from 0 to 100, got "${value}"`);
  return n;
}

function labelsFlag(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(",").filter((p) => p.trim() !== "")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new UsageError(`--labels: expected k=v,..., got "${part}"`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

function abortFlag(value: string): { status: number } | { grpcStatus: number } {
  const grpc = /^grpc:(\d{1,2})$/.exec(value);
  if (grpc !== null) {
    const n = Number(grpc[1]);
    if (n >= 1 && n <= 16) return { grpcStatus: n };
  } else if (/^\d{3}$/.test(value) && Number(value) >= 200 && Number(value) <= 599) return { status: Number(value) };
  throw new UsageError(`--abort: expected an HTTP status 200-599 or grpc:N (N 1-16), got "${value}"`);
}

const KIND_FLAGS = ["delay", "abort", "reset", "blackhole", "bandwidth"] as const;

/** The experiment the flags describe (without -f). */
function fromFlags(f: ChaosStartFlags): FaultExperiment {
  const kinds = KIND_FLAGS.filter((k) => f[k] !== undefined && f[k] !== false);
  const [kind, extra] = kinds;
  if (kind === undefined || extra !== undefined)
    throw new UsageError(
      "chaos start: give -f FILE, or exactly one of --delay, --abort, --reset, --blackhole, --bandwidth",
    );
  if (f.service === undefined) throw new UsageError("chaos start: --service is required without -f");
  if (f.for === undefined) throw new UsageError("chaos start: --for is required without -f (e.g. --for 60s)");
  const ms = parseDuration(f.for);
  if (ms === undefined || ms <= 0)
    throw new UsageError(`--for: expected a duration greater than zero like 60s or 5m, got "${f.for}"`);
  const spec: Record<string, unknown> = {
    target: {
      service: f.service,
      ...(f.labels === undefined ? {} : { labels: labelsFlag(f.labels) }),
      ...(f.instancePercent === undefined
        ? {}
        : { instancePercent: percentFlag("--instance-percent", f.instancePercent) }),
    },
    kind,
    side: f.side ?? "outbound",
    percent: percentFlag("--percent", f.percent ?? "100"),
    duration: f.for,
  };
  if (kind === "delay") {
    const d = parseDuration(f.delay ?? "");
    if (d === undefined || d <= 0) throw new UsageError(`--delay: expected a duration like 100ms, got "${f.delay}"`);
    spec.delay = { fixed: f.delay };
  } else if (kind === "abort") spec.abort = abortFlag(f.abort ?? "");
  else if (kind === "bandwidth")
    spec.bandwidth = { bytesPerSecond: byteSizeFlag("--bandwidth")((f.bandwidth ?? "").replace(/\/s$/i, "")) };
  return {
    apiVersion: API_VERSION,
    kind: "FaultExperiment",
    metadata: { name: f.name ?? `${f.service}-${kind}` },
    spec: spec as FaultExperimentSpec,
  };
}

/** The one FaultExperiment of -f, checked here first so a mistake is a usage error with the file's line. */
async function fromFile(f: ChaosStartFlags): Promise<FaultExperiment> {
  const given = KIND_FLAGS.filter((k) => f[k] !== undefined && f[k] !== false);
  if (given.length > 0 || f.service !== undefined || f.for !== undefined || f.name !== undefined)
    throw new UsageError(
      "chaos start: -f FILE takes no --delay/--abort/--reset/--blackhole/--bandwidth/--service/--for/--name",
    );
  const [file] = await readInputs([f.filename ?? "-"]);
  if (file === undefined) throw new UsageError(`-f ${f.filename}: no resources`);
  let resources: ReturnType<typeof parseResources>;
  try {
    resources = parseResources(file.text, file.name);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  const [r, more] = resources;
  if (r === undefined || more !== undefined || r.kind !== "FaultExperiment")
    throw new UsageError(`-f ${file.name}: expected exactly one resource of kind FaultExperiment`);
  return r;
}

export async function startExperiment(f: ChaosStartFlags): Promise<void> {
  const experiment = f.filename === undefined ? fromFlags(f) : await fromFile(f);
  const body = JSON.stringify({ experiment, ...(f.reason === undefined ? {} : { reason: f.reason }) });
  const r = await callApi(f.server, "POST", "/v1/chaos/experiments", { headers: headers(), body });
  const out = JSON.parse(r.body.toString("utf8")) as { revision: number; experiment: FaultExperiment };
  const text = await structured(f.output, out.experiment);
  if (text !== undefined) {
    process.stdout.write(text);
    return;
  }
  if (f.output === "name") {
    process.stdout.write(`faultexperiment/${out.experiment.metadata.name}\n`);
    return;
  }
  const e = out.experiment;
  const until = new Date(e.status?.deadline ?? 0).toISOString();
  process.stdout.write(
    `started ${e.metadata.name}: ${describeFault(e)} on ${e.spec.side} of ${describeTarget(e)}, ${e.spec.percent}% of requests, until ${until}\n`,
  );
}

export async function listExperiments(f: { server: string; stale?: boolean; output?: OutputFormat }): Promise<void> {
  const path = f.stale === true ? "/v1/chaos/experiments?consistency=stale" : "/v1/chaos/experiments";
  const r = await callApi(f.server, "GET", path);
  const v = JSON.parse(r.body.toString("utf8")) as ExperimentListResponse;
  if (f.output === "json") {
    process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
    return;
  }
  if (f.output === "yaml") {
    process.stdout.write(stringify(v));
    return;
  }
  if (f.output === "name") {
    process.stdout.write(v.items.map((i) => `faultexperiment/${i.experiment.metadata.name}\n`).join(""));
    return;
  }
  if (v.items.length === 0) {
    process.stdout.write("No experiments running.\n");
    return;
  }
  const wide = f.output === "wide";
  const header = ["NAME", "TARGET", "SIDE", "FAULT", "PERCENT", "REMAINING", ...(wide ? ["STARTED-BY", "REASON"] : [])];
  const rows = v.items.map((i) => {
    const e = i.experiment;
    const row = [
      e.metadata.name,
      describeTarget(e),
      e.spec.side,
      describeFault(e),
      `${e.spec.percent}%`,
      describeRemaining(e, v.now),
    ];
    return wide ? [...row, e.status?.startedBy ?? "-", e.status?.reason ?? "-"] : row;
  });
  process.stdout.write(renderTable(header, rows));
}

export async function stopExperiments(
  name: string | undefined,
  f: { server: string; all?: boolean; reason?: string },
): Promise<void> {
  if ((name === undefined) === (f.all !== true))
    throw new UsageError("chaos stop: give an experiment NAME or --all (not both)");
  const query = f.reason === undefined ? "" : `?reason=${encodeURIComponent(f.reason)}`;
  const path = name === undefined ? "/v1/chaos/experiments" : `/v1/chaos/experiments/${encodeURIComponent(name)}`;
  const r = await callApi(f.server, "DELETE", `${path}${query}`, { headers: headers() });
  const { stopped } = JSON.parse(r.body.toString("utf8")) as { stopped: string[] };
  process.stdout.write(
    stopped.length === 0 ? "No experiments running.\n" : stopped.map((n) => `stopped ${n}\n`).join(""),
  );
}

/** What the resource commands do (`meshlet apply`, `get`, `delete`, `diff`, `status`), loaded when one of them runs. */
import { createTwoFilesPatch } from "diff";
import { stringify } from "yaml";
import { HttpError, MeshletError, UsageError } from "../../common/errors.ts";
import { createProgress } from "../../common/progress.ts";
import { type Finding, formatFinding } from "../../config/finding.ts";
import { NO_SIZE_LIMITS } from "../../config/limits.ts";
import { locate, parseResources } from "../../config/load.ts";
import { checkMesh, errorsOf } from "../../config/mesh-check.ts";
import { kindFromPath, type Resource, type ResourceKind } from "../../config/resources.ts";
import { describeSelector } from "../../controlplane/config/selection.ts";
import type {
  ApplyResponse,
  ResourceListResponse,
  SidecarsResponse,
  StoredResourceView,
} from "../../controlplane/resources/api-types.ts";
import { canonicalJson } from "../../controlplane/resources/canonical.ts";
import { formatPlanned } from "../../controlplane/resources/plan.ts";
import { RefusedError, request } from "../control-client.ts";
import { type InputFile, readInputs } from "../input-files.ts";
import { type OutputFormat, renderTable, structured } from "../output.ts";
import { refusedBy } from "../sidecar-view.ts";
import { describeFault, describeRemaining, describeTarget } from "./chaos-view.ts";

/**
 * Validates every file locally first, so errors name the operator's file and
 * line; the control plane validates again (it trusts no client).
 */
export function validateInputs(files: readonly InputFile[]): Resource[] {
  // Sizes are the server's to judge: it may be configured with other limits than the defaults.
  const resources = files.flatMap((f) => parseResources(f.text, f.name, NO_SIZE_LIMITS));
  const seen = new Set<string>();
  for (const r of resources) {
    const key = `${r.kind}/${r.metadata.name}`;
    if (seen.has(key)) throw new UsageError(`${key} is defined more than once across the given files`);
    seen.add(key);
  }
  return resources;
}

function parseKind(value: string): ResourceKind {
  const kind = kindFromPath(value);
  if (kind === undefined)
    throw new UsageError(
      `unknown kind "${value}" (expected service, route, policy, configrelease, faultexperiment, authorizationpolicy or peerauthentication)`,
    );
  return kind;
}

function plural(kind: ResourceKind): string {
  return kind.endsWith("Policy") ? `${kind.toLowerCase().slice(0, -1)}ies` : `${kind.toLowerCase()}s`;
}

function summary(r: Resource): string[] {
  switch (r.kind) {
    case "Service":
      return [
        r.spec.ports.map((p) => `${p.port}/${p.protocol}`).join(","),
        Object.keys(r.spec.loadBalancer)[0] ?? "",
        String(r.spec.endpoints.length),
      ];
    case "Route":
      return [r.spec.hosts.join(","), String(r.spec.http.length)];
    case "Policy": {
      const t = r.spec.target;
      const features = ["circuitBreaker", "limits", "rateLimit", "fallback", "outlierDetection", "healthCheck"];
      return [
        "service" in t ? `service/${t.service}` : `route/${t.route}`,
        features.filter((f) => f in r.spec).join(",") || "-",
      ];
    }
    case "ConfigRelease":
      return [r.spec.key, describeSelector(r.spec.selector)];
    case "FaultExperiment":
      return [describeTarget(r), r.spec.side, describeFault(r), `${r.spec.percent}%`, describeRemaining(r, Date.now())];
    case "AuthorizationPolicy":
      return [`service/${r.spec.targetService}`, r.spec.action, String(r.spec.rules.length)];
    case "PeerAuthentication":
      return [r.spec.namespace === undefined ? "mesh" : `namespace/${r.spec.namespace}`, r.spec.mtls.mode];
  }
}

const COLUMNS: Record<ResourceKind, string[]> = {
  Service: ["NAME", "PORTS", "BALANCER", "STATIC-ENDPOINTS", "REVISION"],
  Route: ["NAME", "HOSTS", "RULES", "REVISION"],
  Policy: ["NAME", "TARGET", "FEATURES", "REVISION"],
  ConfigRelease: ["NAME", "KEY", "SELECTOR", "REVISION"],
  FaultExperiment: ["NAME", "TARGET", "SIDE", "FAULT", "PERCENT", "REMAINING", "REVISION"],
  AuthorizationPolicy: ["NAME", "TARGET", "ACTION", "RULES", "REVISION"],
  PeerAuthentication: ["NAME", "SCOPE", "MODE", "REVISION"],
};

export function renderResources(
  kind: ResourceKind,
  items: readonly StoredResourceView[],
  output: OutputFormat,
): string {
  const resources = items.map((i) => i.resource);
  if (output === "json") return `${JSON.stringify(resources.length === 1 ? resources[0] : resources, null, 2)}\n`;
  if (output === "yaml") return resources.map((r) => stringify(r)).join("---\n");
  if (output === "name") return resources.map((r) => `${resourceName(r)}\n`).join("");
  if (items.length === 0) return `No ${plural(kind)} found.\n`;
  const wide = output === "wide";
  return renderTable(
    wide ? [...COLUMNS[kind], WIDE_COLUMN[kind]] : COLUMNS[kind],
    items.map((i) => {
      const row = [i.resource.metadata.name, ...summary(i.resource), String(i.revision)];
      return wide ? [...row, wideSummary(i.resource)] : row;
    }),
  );
}

/** `service/reviews`: what `-o name` prints and `meshlet get`/`delete` accept back. */
export function resourceName(r: Resource): string {
  return `${r.kind.toLowerCase()}/${r.metadata.name}`;
}

const WIDE_COLUMN: Record<ResourceKind, string> = {
  Service: "ENDPOINTS",
  Route: "DESTINATIONS",
  Policy: "FALLBACK",
  ConfigRelease: "VALUE-BYTES",
  FaultExperiment: "STARTED-BY",
  AuthorizationPolicy: "SOURCES",
  PeerAuthentication: "LABELS",
};

function wideSummary(r: Resource): string {
  switch (r.kind) {
    case "Service":
      return r.spec.endpoints.map((e) => `${e.address}:${e.port}`).join(",") || "-";
    case "Route":
      return [...new Set(r.spec.http.flatMap((h) => h.destinations.map((d) => d.service)))].join(",");
    case "Policy": {
      const f = r.spec.fallback;
      if (f === undefined) return "-";
      const kind = f.static !== undefined ? "static" : f.service !== undefined ? `service/${f.service}` : "staleCache";
      return `${kind} on ${f.on.join(",")}`;
    }
    case "ConfigRelease":
      return String(Buffer.byteLength(r.spec.value));
    case "FaultExperiment":
      return r.status === undefined
        ? "-"
        : `${r.status.startedBy}${r.status.reason === undefined ? "" : `: ${r.status.reason}`}`;
    case "AuthorizationPolicy":
      return (
        [...new Set(r.spec.rules.flatMap((x) => [...(x.from?.identities ?? []), ...(x.from?.services ?? [])]))].join(
          ",",
        ) || "*"
      );
    case "PeerAuthentication":
      return (
        Object.entries(r.metadata.labels ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(",") || "-"
      );
  }
}

/** A unified diff of one resource, live vs. what the files say; empty when equal. */
export function diffResource(live: Resource | undefined, applied: Resource): string {
  const id = `${applied.kind.toLowerCase()}/${applied.metadata.name}`;
  // Both sides in canonical key order, so only values differ, never the order fields were written in.
  const before = live === undefined ? "" : stringify(JSON.parse(canonicalJson(live)));
  const after = stringify(JSON.parse(canonicalJson(applied)));
  if (before === after) return "";
  return createTwoFilesPatch(`live/${id}`, `applied/${id}`, before, after, undefined, undefined, { context: 3 });
}

async function fetchOne(server: string, kind: ResourceKind, name: string): Promise<StoredResourceView | undefined> {
  try {
    return await request<StoredResourceView>(server, "GET", `v1/resources/${plural(kind)}/${encodeURIComponent(name)}`);
  } catch (err) {
    if (err instanceof HttpError && err.status === 404) return undefined;
    throw err;
  }
}

/** From this many resources on, `meshlet apply` reports its steps on stderr (one request can take seconds). */
const MANY_RESOURCES = 100;

/** `--dry-run` alone asks the server, as it did before the modes existed; `client` validates the files only. */
export type DryRun = "none" | "client" | "server";

export function parseDryRun(value: string | boolean | undefined): DryRun {
  if (value === undefined || value === false || value === "none") return "none";
  if (value === true || value === "server") return "server";
  if (value === "client") return "client";
  throw new UsageError(`--dry-run: expected none, client or server, got "${String(value)}"`);
}

/** `file:line:col ` where the finding's resource (or the other side of a conflict) is written in the given files. */
export function whereIs(files: readonly InputFile[], f: Finding): string {
  for (const resource of [f.resource, ...(f.related ?? [])]) {
    for (const file of files) {
      const at = locate(file.text, resource, resource === f.resource ? f.path : "");
      if (at !== undefined) return `${file.name}:${at.line}:${at.column} `;
    }
  }
  return "";
}

function refusal(files: readonly InputFile[], findings: readonly Finding[], dryRun: DryRun): MeshletError {
  const by =
    dryRun === "client"
      ? "would be refused by the sidecars"
      : "refused by the control plane (sidecars would reject it)";
  const lines = findings.map((f) => `  ${whereIs(files, f)}${formatFinding(f)}`);
  return new MeshletError("ERR_CONFIG_REJECTED", `change ${by}; nothing was applied:\n${lines.join("\n")}`);
}

export async function apply(opts: {
  filename: string[];
  dryRun?: string | boolean;
  output?: OutputFormat;
  server: string;
}): Promise<void> {
  const dryRun = parseDryRun(opts.dryRun);
  const files = await readInputs(opts.filename);
  const resources = validateInputs(files);
  if (dryRun === "client") {
    // The files alone, checked as a sidecar would: what they conflict with on the server is --dry-run=server's job.
    const findings = checkMesh(resources);
    const errors = errorsOf(findings);
    if (errors.length > 0) throw refusal(files, errors, dryRun);
    for (const w of findings) process.stderr.write(`Warning: ${whereIs(files, w)}${formatFinding(w)}\n`);
    const out = await structured(opts.output, { dryRun: "client", resources: resources.map(resourceName) });
    process.stdout.write(
      out ??
        resources
          .map((r) => `${resourceName(r)}${opts.output === "name" ? "" : " validated (client dry run)"}\n`)
          .join(""),
    );
    return;
  }
  const progress = resources.length >= MANY_RESOURCES ? createProgress(process.stderr, "meshlet apply: ") : undefined;
  progress
    ?.step(`${resources.length} resources from ${files.length} file${files.length === 1 ? "" : "s"}`)
    .done("valid");
  const sending = progress?.step(`${dryRun === "server" ? "planning" : "applying"} at ${opts.server}`);
  const body = files.map((f) => f.text).join("\n---\n");
  let res: ApplyResponse;
  try {
    res = await request<ApplyResponse>(
      opts.server,
      "POST",
      `v1/apply${dryRun === "server" ? "?dryRun=true" : ""}`,
      body,
    );
  } catch (err) {
    if (err instanceof RefusedError) throw refusal(files, err.findings, dryRun);
    throw err;
  } finally {
    progress?.close();
  }
  if (sending !== undefined) {
    const counts = new Map<string, number>();
    for (const r of res.results) counts.set(r.action, (counts.get(r.action) ?? 0) + 1);
    process.stderr.write(
      `meshlet apply: ${[...counts].map(([action, n]) => `${n} ${action}`).join(", ")} (revision ${res.revision})\n`,
    );
  }
  for (const w of res.warnings) process.stderr.write(`Warning: ${whereIs(files, w)}${formatFinding(w)}\n`);
  const out = await structured(opts.output, res);
  if (out !== undefined) process.stdout.write(out);
  else if (opts.output === "name")
    process.stdout.write(res.results.map((r) => `${r.kind.toLowerCase()}/${r.name}\n`).join(""));
  else {
    const suffix = opts.output === "wide" ? ` (revision ${res.revision})` : "";
    process.stdout.write(res.results.map((r) => `${formatPlanned(r, res.dryRun)}${suffix}\n`).join(""));
  }
}

export async function get(
  kindArg: string,
  name: string | undefined,
  opts: { output?: OutputFormat; server: string },
): Promise<void> {
  const kind = parseKind(kindArg);
  let items: StoredResourceView[];
  if (name === undefined) {
    items = (await request<ResourceListResponse>(opts.server, "GET", `v1/resources/${plural(kind)}`)).items;
  } else {
    const one = await fetchOne(opts.server, kind, name);
    if (one === undefined) throw new MeshletError("ERR_NOT_FOUND", `${kind.toLowerCase()}/${name} not found`);
    items = [one];
  }
  process.stdout.write(renderResources(kind, items, opts.output ?? "table"));
}

export async function remove(
  kindArg: string,
  name: string,
  opts: { output?: OutputFormat; server: string },
): Promise<void> {
  const kind = parseKind(kindArg);
  const res = await request<{ revision: number; deleted: boolean }>(
    opts.server,
    "DELETE",
    `v1/resources/${plural(kind)}/${encodeURIComponent(name)}`,
  );
  const id = `${kind.toLowerCase()}/${name}`;
  const out = await structured(opts.output, { kind, name, ...res });
  if (out !== undefined) process.stdout.write(out);
  else if (opts.output === "name") process.stdout.write(`${id}\n`);
  else process.stdout.write(`${id} deleted${opts.output === "wide" ? ` (revision ${res.revision})` : ""}\n`);
}

export async function diff(opts: { filename: string[]; server: string }): Promise<void> {
  const resources = validateInputs(await readInputs(opts.filename));
  let changed = false;
  for (const r of resources) {
    const live = await fetchOne(opts.server, r.kind, r.metadata.name);
    const patch = diffResource(live?.resource, r);
    if (patch !== "") {
      changed = true;
      process.stdout.write(patch);
    }
  }
  // diff(1) convention, as kubectl diff: 1 means "differences found", not a failure.
  if (changed) process.exitCode = 1;
}

export async function status(opts: { output?: OutputFormat; server: string }): Promise<void> {
  const cluster = await request<Record<string, unknown>>(opts.server, "GET", "v1/cluster");
  const sidecars = await request<SidecarsResponse>(opts.server, "GET", "v1/sidecars");
  const out = await structured(opts.output, { cluster, ...sidecars });
  if (out !== undefined) {
    process.stdout.write(out);
    return;
  }
  if (opts.output === "name") {
    process.stdout.write(sidecars.sidecars.map((s) => `sidecar/${s.id}\n`).join(""));
    return;
  }
  process.stdout.write(`Cluster:\n${stringify(cluster).replace(/^(?=.)/gm, "  ")}`);
  const rejecting = sidecars.sidecars.filter((s) => refusedBy(s).length > 0).length;
  process.stdout.write(`\nSidecars: ${sidecars.sidecars.length} connected, ${rejecting} with a rejected snapshot\n`);
  if (sidecars.unreachable.length > 0)
    process.stdout.write(`Not listed: the sidecars of ${sidecars.unreachable.join(", ")} (did not answer)\n`);
  if (sidecars.sidecars.length === 0) return;
  const wide = opts.output === "wide";
  process.stdout.write(
    renderTable(
      wide
        ? ["ID", "SERVICE", "INSTANCE", "NODE", "PUSHED", "ACKED", "REJECTED"]
        : ["ID", "SERVICE", "NODE", "PUSHED", "ACKED", "REJECTED"],
      sidecars.sidecars.map((s) => {
        const rejected = refusedBy(s);
        const cells = [
          s.id,
          s.service,
          ...(wide ? [s.instance] : []),
          s.node,
          String(s.lastPushedVersion),
          String(s.lastAckedVersion),
          rejected.length === 0 ? "-" : wide ? rejected.join("; ") : (rejected[0] ?? ""),
        ];
        return cells;
      }),
    ),
  );
}

/** What the resource commands do (`meshlet apply`, `get`, `delete`, `diff`, `status`), loaded when one of them runs. */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { createTwoFilesPatch } from "diff";
import { stringify } from "yaml";
import { HttpError, MeshletError, UsageError } from "../../common/errors.ts";
import { createProgress } from "../../common/progress.ts";
import { parseResources } from "../../config/load.ts";
import { formatWarning } from "../../config/references.ts";
import { kindFromPath, type Resource, type ResourceKind } from "../../config/resources.ts";
import { describeSelector } from "../../controlplane/config/selection.ts";
import type {
  ApplyResponse,
  ErrorBody,
  ResourceListResponse,
  SidecarsResponse,
  StoredResourceView,
} from "../../controlplane/resources/api-types.ts";
import { canonicalJson } from "../../controlplane/resources/canonical.ts";
import { formatPlanned } from "../../controlplane/resources/plan.ts";

const REQUEST_TIMEOUT_MS = 15_000;
const FILE_PATTERN = /\.(ya?ml|json)$/;

interface InputFile {
  name: string;
  text: string;
}

/** `-f` values: a file, every *.yaml|*.yml|*.json in a directory (sorted, not recursive), or `-` for stdin. */
export async function readInputs(paths: readonly string[]): Promise<InputFile[]> {
  const out: InputFile[] = [];
  for (const path of paths) {
    if (path === "-") {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      out.push({ name: "<stdin>", text: Buffer.concat(chunks).toString("utf8") });
      continue;
    }
    const info = await stat(path).catch(() => undefined);
    if (info === undefined) throw new UsageError(`-f ${path}: no such file or directory`);
    if (info.isDirectory()) {
      const names = (await readdir(path)).filter((n) => FILE_PATTERN.test(n)).sort();
      for (const n of names) out.push({ name: join(path, n), text: await readFile(join(path, n), "utf8") });
    } else {
      out.push({ name: path, text: await readFile(path, "utf8") });
    }
  }
  if (out.length === 0) throw new UsageError("no resource files found");
  return out;
}

/**
 * Validates every file locally first, so errors name the operator's file and
 * line; the control plane validates again (it trusts no client).
 */
export function validateInputs(files: readonly InputFile[]): Resource[] {
  const resources = files.flatMap((f) => parseResources(f.text, f.name));
  const seen = new Set<string>();
  for (const r of resources) {
    const key = `${r.kind}/${r.metadata.name}`;
    if (seen.has(key)) throw new UsageError(`${key} is defined more than once across the given files`);
    seen.add(key);
  }
  return resources;
}

/**
 * One call to the control plane. A 503 (no leader yet, election in progress)
 * is retried after its Retry-After until the overall deadline when the call
 * is safe to repeat: reads, and applies (an apply re-plans, so a repeat of a
 * committed one reports "unchanged").
 */
async function request<T>(server: string, method: string, path: string, body?: string): Promise<T> {
  const url = new URL(path, server.endsWith("/") ? server : `${server}/`);
  const deadline = Date.now() + REQUEST_TIMEOUT_MS;
  const retryable = method === "GET" || path.startsWith("v1/apply");
  for (;;) {
    const remaining = deadline - Date.now();
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          accept: "application/json",
          "x-meshlet-timeout": String(Math.max(1, remaining - 500)),
          ...(body === undefined ? {} : { "content-type": "application/yaml" }),
        },
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(Math.max(1, remaining)),
      });
    } catch (err) {
      throw new MeshletError(
        "ERR_UNAVAILABLE",
        `cannot reach the control plane at ${url.origin}: ${describeFetchError(err)}`,
      );
    }
    const text = await res.text();
    const json: unknown = text === "" ? {} : safeJson(text);
    if (res.ok) return json as T;
    const retryAfterMs = Math.min(1000, Number(res.headers.get("retry-after") ?? "1") * 1000);
    if (res.status === 503 && retryable && Date.now() + retryAfterMs < deadline) {
      await new Promise((r) => setTimeout(r, retryAfterMs));
      continue;
    }
    const e = (json as Partial<ErrorBody>).error;
    const retry = res.headers.get("retry-after");
    const suffix = retry === null ? "" : ` (retry after ${retry}s)`;
    const message =
      e?.message ?? (text.trim() || `HTTP ${res.status} from ${url.origin}: is it a meshlet control plane?`);
    throw new HttpError(res.status, e?.code ?? `HTTP_${res.status}`, `${message}${suffix}`);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { error: { code: "ERR_BAD_RESPONSE", message: text.slice(0, 200) } };
  }
}

function describeFetchError(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
  return cause ?? (err instanceof Error ? err.message : String(err));
}

function parseKind(value: string): ResourceKind {
  const kind = kindFromPath(value);
  if (kind === undefined)
    throw new UsageError(`unknown kind "${value}" (expected service, route, policy or configrelease)`);
  return kind;
}

function plural(kind: ResourceKind): string {
  return kind === "Policy" ? "policies" : `${kind.toLowerCase()}s`;
}

/** kubectl-style table: left-aligned columns separated by three spaces. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("   ")
      .trimEnd();
  return `${[header, ...rows].map(line).join("\n")}\n`;
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
  }
}

const COLUMNS: Record<ResourceKind, string[]> = {
  Service: ["NAME", "PORTS", "BALANCER", "STATIC-ENDPOINTS", "REVISION"],
  Route: ["NAME", "HOSTS", "RULES", "REVISION"],
  Policy: ["NAME", "TARGET", "FEATURES", "REVISION"],
  ConfigRelease: ["NAME", "KEY", "SELECTOR", "REVISION"],
};

export function renderResources(kind: ResourceKind, items: readonly StoredResourceView[], output: string): string {
  const resources = items.map((i) => i.resource);
  if (output === "json") return `${JSON.stringify(resources.length === 1 ? resources[0] : resources, null, 2)}\n`;
  if (output === "yaml") return resources.map((r) => stringify(r)).join("---\n");
  if (items.length === 0) return `No ${plural(kind)} found.\n`;
  return renderTable(
    COLUMNS[kind],
    items.map((i) => [i.resource.metadata.name, ...summary(i.resource), String(i.revision)]),
  );
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

export async function apply(opts: { filename: string[]; dryRun?: boolean; server: string }): Promise<void> {
  const files = await readInputs(opts.filename);
  const resources = validateInputs(files);
  const progress = resources.length >= MANY_RESOURCES ? createProgress(process.stderr, "meshlet apply: ") : undefined;
  progress
    ?.step(`${resources.length} resources from ${files.length} file${files.length === 1 ? "" : "s"}`)
    .done("valid");
  const sending = progress?.step(`${opts.dryRun === true ? "planning" : "applying"} at ${opts.server}`);
  const body = files.map((f) => f.text).join("\n---\n");
  const query = opts.dryRun === true ? "?dryRun=true" : "";
  let res: ApplyResponse;
  try {
    res = await request<ApplyResponse>(opts.server, "POST", `v1/apply${query}`, body);
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
  for (const w of res.warnings) process.stderr.write(`Warning: ${formatWarning(w)}\n`);
  process.stdout.write(res.results.map((r) => `${formatPlanned(r, res.dryRun)}\n`).join(""));
}

export async function get(
  kindArg: string,
  name: string | undefined,
  opts: { output: string; server: string },
): Promise<void> {
  const kind = parseKind(kindArg);
  if (!["table", "yaml", "json"].includes(opts.output)) {
    throw new UsageError(`-o: expected table, yaml or json, got "${opts.output}"`);
  }
  let items: StoredResourceView[];
  if (name === undefined) {
    items = (await request<ResourceListResponse>(opts.server, "GET", `v1/resources/${plural(kind)}`)).items;
  } else {
    const one = await fetchOne(opts.server, kind, name);
    if (one === undefined) throw new MeshletError("ERR_NOT_FOUND", `${kind.toLowerCase()}/${name} not found`);
    items = [one];
  }
  process.stdout.write(renderResources(kind, items, opts.output));
}

export async function remove(kindArg: string, name: string, opts: { server: string }): Promise<void> {
  const kind = parseKind(kindArg);
  await request<unknown>(opts.server, "DELETE", `v1/resources/${plural(kind)}/${encodeURIComponent(name)}`);
  process.stdout.write(`${kind.toLowerCase()}/${name} deleted\n`);
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

export async function status(opts: { server: string }): Promise<void> {
  const cluster = await request<Record<string, unknown>>(opts.server, "GET", "v1/cluster");
  const { sidecars, unreachable } = await request<SidecarsResponse>(opts.server, "GET", "v1/sidecars");
  process.stdout.write(`Cluster:\n${stringify(cluster).replace(/^(?=.)/gm, "  ")}`);
  const nacked = sidecars.filter((s) => s.lastNack !== null).length;
  process.stdout.write(`\nSidecars: ${sidecars.length} connected, ${nacked} with a rejected snapshot\n`);
  if (unreachable.length > 0)
    process.stdout.write(`Not listed: the sidecars of ${unreachable.join(", ")} (did not answer)\n`);
  if (sidecars.length > 0) {
    process.stdout.write(
      renderTable(
        ["ID", "SERVICE", "NODE", "PUSHED", "ACKED", "LAST-NACK"],
        sidecars.map((s) => [
          s.id,
          s.service,
          s.node,
          String(s.lastPushedVersion),
          String(s.lastAckedVersion),
          s.lastNack === null ? "-" : `v${s.lastNack.version}: ${s.lastNack.error}`,
        ]),
      ),
    );
  }
}

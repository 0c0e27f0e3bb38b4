/** What the config center's commands do (`meshlet config watch|release|promote|rollback|history|status`), loaded when one runs. */
import { createHash } from "node:crypto";
import { stringify } from "yaml";
import { authorizationHeader, controlFetch } from "../../common/control-access.ts";
import { errorMessage, MeshletError, UsageError } from "../../common/errors.ts";
import { openSse } from "../../common/sse-client.ts";
import { invalidKeyReason } from "../../config/config-key.ts";
import type { ConfigRelease, ReleaseSelector } from "../../config/resources.ts";
import type { HistoryResponse, ReleaseActionResponse, StatusResponse } from "../../controlplane/config/api-types.ts";
import { describeSelector } from "../../controlplane/config/selection.ts";
import { callApi } from "../../controlplane/http/client.ts";
import type { ApplyResponse } from "../../controlplane/resources/api-types.ts";
import { renderTable } from "../output.ts";

export const keyPath = (key: string) => `/v1/config/${key.split("/").map(encodeURIComponent).join("/")}`;

function checkKey(key: string): void {
  const reason = invalidKeyReason(key);
  if (reason !== undefined) throw new UsageError(`KEY "${key}": ${reason}`);
}

function checkOutput(output: string, allowed: readonly string[]): void {
  if (!allowed.includes(output)) throw new UsageError(`-o: expected ${allowed.join(", ")}, got "${output}"`);
}

function print(value: unknown, output: string): boolean {
  if (output === "json") process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else if (output === "yaml") process.stdout.write(stringify(value));
  else return false;
  return true;
}

const when = (at: number | null) => (at === null ? "-" : new Date(at).toISOString());

// --- watch ---------------------------------------------------------------------------------------------

interface WatchEvent {
  type: "put" | "delete";
  key: string;
  value?: string;
  encoding?: string;
  revision: number;
}

export interface WatchOptions {
  /** One server or several, comma-separated: a watch whose node goes away resumes on the next. */
  server: string;
  prefix?: boolean;
  revision?: number;
  output: string;
}

function formatEvent(e: WatchEvent, raw: string, output: string): string {
  if (output === "json") return `${raw}\n`;
  const value =
    e.value === undefined ? "" : ` ${e.encoding === "base64" ? `base64:${e.value}` : JSON.stringify(e.value)}`;
  return `${e.revision} ${e.type} ${e.key}${value}\n`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Prints every change as it comes, until interrupted. When a stream ends
 * (the node stopped, the watcher was cut for being slow), it resumes after
 * the last revision it printed, on the next server of the list if the node
 * is gone: nothing is skipped and nothing printed twice. A start in the
 * compacted past ends the command (exit 1): the values in between are lost.
 * When no server of the list has answered yet, a round of failures ends it
 * (exit 3, not reachable), as a first connection that fails does for every
 * other command; once one has answered, it keeps trying through outages.
 */
export async function watch(key: string, o: WatchOptions): Promise<void> {
  if (!(o.prefix === true && key === "")) checkKey(key);
  checkOutput(o.output, ["text", "json"]);
  const servers = o.server.split(",").filter((s) => s.trim() !== "");
  let next = o.revision;
  let attempt = 0;
  let server = 0;
  let reached = false;
  for (;;) {
    if (!reached && server >= servers.length)
      throw new MeshletError(
        "ERR_UNREACHABLE",
        `cannot reach the control plane at ${servers.join(", ")}: no server answered`,
      );
    const base = (servers[server % servers.length] ?? "").replace(/\/+$/, "");
    const query = [
      "watch=1",
      ...(o.prefix === true ? ["prefix=1"] : []),
      ...(next === undefined ? [] : [`revision=${next}`]),
    ].join("&");
    const url = key === "" ? `${base}/v1/config?${query}&prefix=` : `${base}${keyPath(key)}?${query}`;
    let ended: { code: string; message: string; revision: number } | undefined;
    try {
      const opened = await openSse(url, { headers: authorizationHeader(), fetcher: controlFetch }, (m) => {
        if (m.event === "start" || m.event === "progress") {
          const { revision } = JSON.parse(m.data) as { revision: number };
          if (next === undefined)
            process.stderr.write(`watching ${key}${o.prefix ? "*" : ""} after revision ${revision}\n`);
          next = revision + 1;
        } else if (m.event === "message") {
          const e = JSON.parse(m.data) as WatchEvent;
          process.stdout.write(formatEvent(e, m.data, o.output));
          next = e.revision + 1;
        } else if (m.event === "cancelled") {
          ended = JSON.parse(m.data) as { code: string; message: string; revision: number };
        }
      });
      reached = true;
      if (!opened.ok) {
        const body = JSON.parse(opened.body || "{}") as { error?: { code?: string; message?: string } };
        const message = `${body.error?.message ?? opened.body} (HTTP ${opened.status})`;
        // A 503 is a node without a leader: another node may have one.
        if (opened.status !== 503) throw new MeshletError(body.error?.code ?? `HTTP_${opened.status}`, message);
        process.stderr.write(`meshlet config watch: ${base}: ${message}; trying again\n`);
        server++;
      } else {
        attempt = 0;
        await opened.done.catch(() => {});
        if (ended?.code === "ERR_COMPACTED") throw new MeshletError(ended.code, ended.message);
        process.stderr.write(
          `meshlet config watch: ${base}: ${ended === undefined ? "stream ended" : ended.message}; resuming at revision ${next}\n`,
        );
        if (ended === undefined) server++;
      }
    } catch (err) {
      if (err instanceof MeshletError) throw err;
      process.stderr.write(`meshlet config watch: ${base}: ${errorMessage(err)}; trying the next server\n`);
      server++;
    }
    await sleep(Math.min(2_000, 100 * 2 ** Math.min(attempt++, 5)));
  }
}

// --- release -------------------------------------------------------------------------------------------

export interface ReleaseOptions {
  server: string;
  value?: string;
  percent?: string;
  labels?: string;
  instances?: string;
  name?: string;
  output: string;
}

/** A DNS-style name for a key's release, the same every time for one key (so a second release grows it). */
export function defaultReleaseName(key: string): string {
  const base = key
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, "-")
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "")
    .slice(0, 230);
  const hash = createHash("sha256").update(key).digest("hex").slice(0, 6);
  return `${base === "" ? "release" : base}-${hash}`;
}

function parsePairs(flag: string, value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(",").filter((p) => p.trim() !== "")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new UsageError(`${flag}: expected k=v,..., got "${part}"`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

function selector(o: ReleaseOptions): ReleaseSelector {
  const given = [o.percent, o.labels, o.instances].filter((x) => x !== undefined).length;
  if (given !== 1) throw new UsageError("give exactly one of --percent, --labels, --instances");
  if (o.percent !== undefined) {
    const percent = Number(o.percent.replace(/%$/, ""));
    if (o.percent.trim() === "" || !Number.isFinite(percent) || percent < 0 || percent > 100)
      throw new UsageError(`--percent: expected 0 to 100, got "${o.percent}"`);
    return { percent };
  }
  if (o.labels !== undefined) return { labels: parsePairs("--labels", o.labels) };
  return {
    instances: (o.instances ?? "")
      .split(",")
      .filter((i) => i.trim() !== "")
      .map((i) => i.trim()),
  };
}

/** Applies a ConfigRelease (the same resource `meshlet apply` takes, through the same validation). */
export async function release(key: string, o: ReleaseOptions): Promise<void> {
  checkKey(key);
  checkOutput(o.output, ["text", "json", "yaml", "name"]);
  if (o.value === undefined) throw new UsageError("--value is required");
  const resource: ConfigRelease = {
    apiVersion: "meshlet.dev/v1",
    kind: "ConfigRelease",
    metadata: { name: o.name ?? defaultReleaseName(key) },
    spec: { key, value: o.value, selector: selector(o) },
  };
  const r = await callApi(o.server, "POST", "/v1/apply", {
    body: JSON.stringify(resource),
    headers: { "content-type": "application/json" },
  });
  const res = JSON.parse(r.body.toString("utf8")) as ApplyResponse;
  if (print(res, o.output)) return;
  const id = `configrelease/${resource.metadata.name}`;
  if (o.output === "name") {
    process.stdout.write(`${id}\n`);
    return;
  }
  const action = res.results[0]?.action ?? "applied";
  process.stdout.write(
    `${id} ${action}: ${key} = ${JSON.stringify(o.value)} for ${describeSelector(resource.spec.selector)} (revision ${res.revision})\n`,
  );
}

// --- promote / rollback --------------------------------------------------------------------------------

export async function promote(key: string, o: { server: string; output: string }): Promise<void> {
  checkKey(key);
  checkOutput(o.output, ["text", "json", "yaml"]);
  const r = await callApi(o.server, "POST", `${keyPath(key)}:promote`);
  const res = JSON.parse(r.body.toString("utf8")) as ReleaseActionResponse;
  if (print(res, o.output)) return;
  process.stdout.write(`${key}: release ${res.release} promoted to every instance (revision ${res.revision})\n`);
}

export async function rollback(key: string, o: { server: string; to?: string; output: string }): Promise<void> {
  checkKey(key);
  checkOutput(o.output, ["text", "json", "yaml"]);
  if (o.to !== undefined && !/^\d{1,15}$/.test(o.to)) throw new UsageError(`--to: expected a revision, got "${o.to}"`);
  const r = await callApi(o.server, "POST", `${keyPath(key)}:rollback${o.to === undefined ? "" : `?to=${o.to}`}`);
  const res = JSON.parse(r.body.toString("utf8")) as ReleaseActionResponse;
  if (print(res, o.output)) return;
  process.stdout.write(
    res.to === undefined
      ? `${key}: release ${res.release} rolled back, every instance is on the base value (revision ${res.revision})\n`
      : `${key}: the value of revision ${res.to} restored for every instance (revision ${res.revision})\n`,
  );
}

// --- history / status ----------------------------------------------------------------------------------

export async function history(key: string, o: { server: string; output: string }): Promise<void> {
  checkKey(key);
  checkOutput(o.output, ["table", "wide", "json", "yaml"]);
  const res = JSON.parse(
    (await callApi(o.server, "GET", `${keyPath(key)}:history`)).body.toString("utf8"),
  ) as HistoryResponse;
  if (print(res, o.output)) return;
  const wide = o.output === "wide";
  const detail = (e: HistoryResponse["entries"][number]) =>
    [e.release, e.selector, e.to === undefined ? undefined : `to ${e.to}`].filter((x) => x !== undefined).join(" ") ||
    "-";
  process.stdout.write(
    renderTable(
      ["REVISION", "ACTION", "DETAIL", "WHEN", "WHO", "RESTORABLE", ...(wide ? ["BYTES"] : [])],
      res.entries.map((e) => [
        String(e.revision),
        e.action,
        detail(e),
        when(e.at),
        e.by ?? "-",
        e.restorable === undefined ? "-" : e.restorable ? "yes" : "no",
        ...(wide ? [e.bytes === undefined ? "-" : String(e.bytes)] : []),
      ]),
    ),
  );
}

export async function status(key: string, o: { server: string; output: string }): Promise<void> {
  checkKey(key);
  checkOutput(o.output, ["table", "wide", "json", "yaml"]);
  const res = JSON.parse(
    (await callApi(o.server, "GET", `${keyPath(key)}:status`)).body.toString("utf8"),
  ) as StatusResponse;
  if (print(res, o.output)) return;
  const base = res.base === null ? "none" : `revision ${res.base.revision} (${res.base.bytes} bytes)`;
  const rel =
    res.release === null
      ? "none"
      : `${res.release.name} for ${res.release.selector}, revision ${res.release.revision} (${res.release.bytes} bytes)`;
  process.stdout.write(`Key: ${key}\nBase: ${base}\nRelease: ${rel}\n`);
  for (const s of res.summary) {
    process.stdout.write(
      `${s.instances} instance${s.instances === 1 ? "" : "s"} on ${s.release === null ? "nothing yet" : `${s.release} ${JSON.stringify(s.preview)}`} (${s.acked} acknowledged)\n`,
    );
  }
  if (res.unreachable.length > 0) process.stdout.write(`Not listed: the sidecars of ${res.unreachable.join(", ")}\n`);
  if (res.instances.length === 0) {
    process.stdout.write("No connected instance declares this key.\n");
    return;
  }
  const wide = o.output === "wide";
  process.stdout.write(
    `\n${renderTable(
      ["SERVICE", "INSTANCE", "RELEASE", "REVISION", "ACKED", ...(wide ? ["NODE", "VALUE"] : [])],
      res.instances.map((i) => [
        i.service,
        i.instance,
        i.release ?? "-",
        i.revision === null ? "-" : String(i.revision),
        i.acked ? "yes" : "pending",
        ...(wide ? [i.node, i.preview === null ? "-" : JSON.stringify(i.preview)] : []),
      ]),
    )}`,
  );
}

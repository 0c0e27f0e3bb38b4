/**
 * Self time of a V8 CPU profile (`node --cpu-prof`) grouped by the sidecar's layers: engine head parsing,
 * downstream connection, upstream pool and exchange, each stage, policies, telemetry, the libraries, and
 * Node's internals by module. bench:engine prints it with BENCH_PROFILE=1; also
 * `node test/bench/profile-summary.ts FILE.cpuprofile`. A benchmark helper, not a test.
 */
import { readFile } from "node:fs/promises";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

interface Profile {
  /** µs on the system's monotonic clock (process.hrtime's), as are the samples' times. */
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Layers of src/sidecar by file, first match wins. */
const LAYERS: [RegExp, string][] = [
  [/\/engine\/(head|path|request)\.[jt]s$/, "engine: request head parsing, path normalization, request"],
  [/\/engine\/(server|response|body)\.[jt]s$/, "engine: downstream connection, response writing, bodies"],
  [/\/engine\/(pool|exchange|upstreams|attempt-error)\.[jt]s$/, "engine: upstream pool and exchange"],
  [/\/stages\/forward-head\.[jt]s$/, "stage: upstream head building"],
  [/\/stages\/(\w[\w-]*)\.[jt]s$/, "stage: $1"],
  [/\/(inbound|outbound|data-path|routing|snapshot|request-view)\.[jt]s$/, "data path: chains, routing, completion"],
  [/\/(resilience|upstream)\//, "policies: breaker, limiter, balancer, outlier"],
  [/\/(telemetry\/|metrics\.[jt]s$)/, "telemetry and metrics"],
];

export function layerOf(url: string, functionName: string): string {
  if (url === "") {
    // V8's own pseudo-frames: (garbage collector), (program), (idle), (root).
    if (functionName.startsWith("(")) return functionName;
    // Native code called from JavaScript (socket writes, Buffer copies): named, they say which call is dear.
    return `native: ${functionName === "" ? "(anonymous)" : functionName}`;
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg !== null) return `library: ${pkg[1]}`;
  if (url.startsWith("node:")) {
    const m = /^node:(?:internal\/)?([^/]+(?:\/[^/]+)?)/.exec(url);
    return `node internals: ${m?.[1] ?? url}`;
  }
  // The sidecar runs from dist/ (compiled), its sources are in src/.
  const sidecar = /\/(?:src|dist)\/sidecar\//.exec(url);
  if (sidecar !== null) {
    for (const [re, name] of LAYERS) {
      const m = re.exec(url);
      if (m !== null) return name.replace("$1", m[1] ?? "");
    }
    return `sidecar: ${url.slice(sidecar.index + sidecar[0].length)}`;
  }
  if (/\/(?:src|dist)\/common\//.test(url)) return "meshlet common (clock, errors, logger)";
  const own = /\/(?:src|dist)\//.exec(url);
  if (own !== null) return `meshlet: ${url.slice(own.index + own[0].length)}`;
  return `other: ${url}`;
}

export interface LayerRow {
  layer: string;
  ms: number;
  /** Share of the busy time (everything but "(idle)"). */
  share: number;
}

/**
 * `fromUs`: samples before this time (µs, monotonic clock) are left out: start-up and config loading; `toUs`:
 * samples after it too (a window of the run, e.g. bench:push's changes).
 */
export function summarize(profile: Profile, fromUs = 0, toUs = Number.POSITIVE_INFINITY): LayerRow[] {
  const layerOfNode = new Map<number, string>();
  for (const n of profile.nodes) layerOfNode.set(n.id, layerOf(n.callFrame.url, n.callFrame.functionName));
  const us = new Map<string, number>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < fromUs || at > toUs) continue;
    const layer = layerOfNode.get(profile.samples[i] as number) ?? "(unknown)";
    us.set(layer, (us.get(layer) ?? 0) + delta);
  }
  us.delete("(idle)");
  let busy = 0;
  for (const v of us.values()) busy += v;
  return [...us.entries()]
    .map(([layer, v]) => ({ layer, ms: v / 1000, share: busy === 0 ? 0 : v / busy }))
    .sort((a, b) => b.ms - a.ms);
}

export async function summaryTable(
  file: string,
  fromUs = 0,
  minShare = 0.005,
  toUs = Number.POSITIVE_INFINITY,
): Promise<string> {
  const rows = summarize(JSON.parse(await readFile(file, "utf8")) as Profile, fromUs, toUs);
  const shown = rows.filter((r) => r.share >= minShare);
  const rest = rows.filter((r) => r.share < minShare);
  const lines = ["| layer (self time) | ms | % of busy time |", "|---|---|---|"];
  for (const r of shown) lines.push(`| ${r.layer} | ${r.ms.toFixed(0)} | ${(100 * r.share).toFixed(1)} |`);
  if (rest.length > 0) {
    const ms = rest.reduce((a, r) => a + r.ms, 0);
    const share = rest.reduce((a, r) => a + r.share, 0);
    lines.push(
      `| ${rest.length} others under ${100 * minShare} % each | ${ms.toFixed(0)} | ${(100 * share).toFixed(1)} |`,
    );
  }
  return `${lines.join("\n")}\n`;
}

if (import.meta.main) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write("usage: node test/bench/profile-summary.ts FILE.cpuprofile\n");
    process.exit(2);
  }
  process.stdout.write(await summaryTable(file));
}

/**
 * bench:config — the config center's push to apps: 1,000 apps, each watching
 * a key over SSE on its own sidecar's admin listener, behind 1,000 simulated
 * sidecars (bench:push's load generators, two processes) connected
 * round-robin to three real `meshlet control` processes (built dist/).
 *
 * One PUT at a time: the time from its HTTP 200 to each app having the value,
 * p50 and p99 over ROUNDS changes. Then a gray release to PERCENT % of the
 * instances: the apps that got its value must be exactly those its selector
 * picks (counted), and no other app may ever have seen it; then a promote.
 * Env: SIDECARS (1000), WORKERS (2), ROUNDS (20), PERCENT (10).
 */
import { availableParallelism } from "node:os";
import { selects } from "../../src/controlplane/config/selection.ts";
import { clusterTarget, LoadGenerator, now, percentile, printTable, sidecarTokens, sleep } from "./load-generators.ts";

const SIDECARS = Number(process.env.SIDECARS ?? 1000);
const WORKERS = Number(process.env.WORKERS ?? 2);
const ROUNDS = Number(process.env.ROUNDS ?? 20);
const PERCENT = Number(process.env.PERCENT ?? 10);
const KEY = "bench/flag";
const RELEASE = "bench-canary";

interface Report {
  arrivals: number[];
  instances: string[];
  values: (string | null)[];
  releases: (string | null)[];
  seen: string[][];
  rssMb: number;
  cpuMs: number;
  /** Streams the nodes refused for their token: any is a broken run. */
  refusals: { count: number; first: string };
}

const target = await clusterTarget();
const leader = target.leader.http;
const put = async (value: string): Promise<number> => {
  const res = await fetch(`https://${leader}/v1/config/${KEY}`, { method: "PUT", body: value });
  if (res.status !== 200) throw new Error(`PUT answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { revision: number }).revision;
};
await target.apply(
  `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: app}\nspec: {config: {keys: [${KEY}]}}\n`,
);
await put("v0");
const tokensFile = await sidecarTokens(target, ["app"]);

const per = Math.ceil(SIDECARS / WORKERS);
const workers = Array.from(
  { length: WORKERS },
  (_, w) =>
    new LoadGenerator<Report>({
      addresses: target.addresses,
      first: w * per,
      count: Math.max(0, Math.min(per, SIDECARS - w * per)),
      services: 1,
      config: { service: "app", key: KEY },
      tokensFile,
      caFile: target.caFile,
    }),
);
await Promise.all(workers.map((w) => w.next()));

const reports = () => Promise.all(workers.map((w) => w.report()));
async function until(what: string, ok: (rs: Report[]) => boolean, timeoutMs = 120_000): Promise<Report[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rs = await reports();
    if (ok(rs)) return rs;
    const refused = rs.find((r) => r.refusals.count > 0)?.refusals;
    if (refused !== undefined) throw new Error(`the nodes refused sidecar streams (${refused.first})`);
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}
const apps = (rs: Report[]) =>
  rs.flatMap((r) =>
    r.instances.map((instance, i) => ({
      instance,
      value: r.values[i],
      release: r.releases[i],
      seen: r.seen[i] ?? [],
      arrival: r.arrivals[i] ?? 0,
    })),
  );

const connectStart = now();
await until("every app reads v0", (rs) => apps(rs).every((a) => a.value === "v0"));
const connectMs = now() - connectStart;
const streams = await target.streams();

/** Sets what the apps' arrival times are taken for, then changes the key; resolves with the change's commit time. */
async function timed(value: string, change: () => Promise<unknown>): Promise<number> {
  await Promise.all(workers.map((w) => w.ask({ watchValue: value })));
  await change();
  return now();
}

const latencies: number[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  const value = `v${round}`;
  const committed = await timed(value, () => put(value));
  const rs = await until(`every app has ${value}`, (x) => apps(x).every((a) => a.arrival > 0), 60_000);
  const arrivals = apps(rs)
    .map((a) => a.arrival - committed)
    .sort((a, b) => a - b);
  process.stdout.write(
    `change ${round}: p50 ${percentile(arrivals, 50).toFixed(0)} ms, p99 ${percentile(arrivals, 99).toFixed(0)} ms, last ${arrivals.at(-1)?.toFixed(0)} ms\n`,
  );
  latencies.push(...arrivals);
  await sleep(300);
}
latencies.sort((a, b) => a - b);

// The gray release: exactly the instances its selector picks.
const everyone = apps(await reports()).map((a) => a.instance);
const selected = new Set(everyone.filter((instance) => selects({ percent: PERCENT }, KEY, { instance, labels: {} })));
const releasedAt = await timed("canary", () =>
  target.apply(
    `apiVersion: meshlet.dev/v1\nkind: ConfigRelease\nmetadata: {name: ${RELEASE}}\nspec: {key: ${KEY}, value: canary, selector: {percent: ${PERCENT}}}\n`,
  ),
);
const gray = await until("the selected apps have the release", (rs) =>
  apps(rs).every((a) => (selected.has(a.instance) ? a.value === "canary" : a.value === `v${ROUNDS}`)),
);
const grayArrivals = apps(gray)
  .filter((a) => a.arrival > 0)
  .map((a) => a.arrival - releasedAt)
  .sort((a, b) => a - b);
// Give a stray push time to land before counting.
await sleep(1_000);
const settled = apps(await reports());
const holding = settled.filter((a) => a.value === "canary" && a.release === RELEASE);
const wrong = settled.filter((a) => !selected.has(a.instance) && a.seen.includes(RELEASE));
const missing = settled.filter((a) => selected.has(a.instance) && a.release !== RELEASE);

const promotedAt = await timed("canary", async () => {
  const res = await fetch(`https://${leader}/v1/config/${KEY}:promote`, { method: "POST" });
  if (res.status !== 200) throw new Error(`promote answered ${res.status}`);
});
await Promise.all(workers.map((w) => w.ask({ watchValue: "canary" })));
const promoted = await until("every app has the promoted value", (rs) =>
  apps(rs).every((a) => a.value === "canary" && a.release === "base"),
);
const promoteMs = now() - promotedAt;

const rows: [string, string][] = [
  ["machine", `${availableParallelism()} cores, Node ${process.version}`],
  ["apps / sidecars", `${SIDECARS} / ${SIDECARS} (${WORKERS} load-generator processes)`],
  ["nodes", target.label],
  ["streams open", String(streams)],
  ["every app connected and reading v0", `${(connectMs / 1000).toFixed(1)} s`],
  [`PUT → app has the value, ${ROUNDS} changes × ${SIDECARS} apps: p50`, `${percentile(latencies, 50).toFixed(1)} ms`],
  ["p99", `${percentile(latencies, 99).toFixed(1)} ms`],
  ["max", `${(latencies.at(-1) ?? Number.NaN).toFixed(1)} ms`],
  [`gray release to ${PERCENT} %: instances the selector picks`, String(selected.size)],
  ["apps holding the release value", String(holding.length)],
  ["selected apps without it / other apps that ever saw it", `${missing.length} / ${wrong.length}`],
  [
    "release → selected app has it: p50 / p99",
    `${percentile(grayArrivals, 50).toFixed(1)} / ${percentile(grayArrivals, 99).toFixed(1)} ms`,
  ],
  ["promote → every app on the new base value", `within ${promoteMs.toFixed(0)} ms (${apps(promoted).length} apps)`],
  [
    "RSS of the node processes",
    `${target
      .rssMb()
      .map((r) => r.toFixed(0))
      .join(" / ")} MB`,
  ],
];
printTable(rows);

for (const w of workers) w.child.send({ stop: true });
await sleep(500);
await target.stop();
process.exit(holding.length === selected.size && wrong.length === 0 && missing.length === 0 ? 0 : 1);

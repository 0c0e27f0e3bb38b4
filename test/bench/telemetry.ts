/**
 * bench:telemetry — the per-request cost of the sidecar's telemetry (begin,
 * outgoingHeaders, complete: metrics, access-log decision, span) in one
 * process, next to `downstreamFields` (the hop-by-hop filter every forwarded
 * response already pays) as the peer measured in the same run. Rounds alternate between
 * the variants and the median is kept: the machine is shared and its speed
 * drifts. A benchmark, not a test.
 */
import { availableParallelism } from "node:os";
import { systemClock } from "../../src/common/clock.ts";
import { createRegistry } from "../../src/common/metrics.ts";
import { MeshIdentities } from "../../src/sidecar/identity-table.ts";
import { downstreamFields } from "../../src/sidecar/stages/forward-head.ts";
import type { AccessLogPolicy } from "../../src/sidecar/telemetry/access-log.ts";
import type { RequestRecord } from "../../src/sidecar/telemetry/record.ts";
import { Telemetry } from "../../src/sidecar/telemetry/telemetry.ts";

const N = 200_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);

const RAW = [
  "Host",
  "ratings",
  "User-Agent",
  "curl/8.5.0",
  "Accept",
  "*/*",
  "Content-Type",
  "application/json",
  "X-Request-Id",
  "5f1c1c39-0d4e-4c43-9a0f-1f2ad1b0b2c7",
  "traceparent",
  "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
];
const RAW_NAMES = RAW.filter((_, i) => i % 2 === 0);
const NAMES = RAW_NAMES.map((n) => n.toLowerCase());
const VALUES = RAW.filter((_, i) => i % 2 === 1);
const peerFields = () => downstreamFields(NAMES, RAW_NAMES, VALUES, []);
const ENDPOINT = { key: "10.0.0.2:80", address: "10.0.0.2", labels: { version: "v2" } };

function telemetry(accessLog: AccessLogPolicy, tracing: boolean): Telemetry {
  const t = new Telemetry({
    localService: "reviews",
    localVersion: "v1",
    registry: createRegistry({ processMetrics: false }),
    clock: systemClock,
    wallNow: Date.now,
    random: Math.random,
    accessLog,
    accessLogSink: { write: () => true },
    identities: new MeshIdentities(),
  });
  if (tracing) t.useTracing({ exporter: { export: () => {}, shutdown: async () => {} }, sampleRate: 1 });
  t.swap({ services: [{ name: "ratings", endpoints: [ENDPOINT] }] });
  return t;
}

function oneRequest(t: Telemetry): void {
  const r: RequestRecord = t.begin("outbound", "GET", "ratings", "/r/1", RAW, "127.0.0.1");
  r.destinationService = "ratings";
  const added: string[] = [];
  t.outgoingHeaders(r, added);
  r.attempts = 1;
  r.endpoint = ENDPOINT;
  r.status = 200;
  r.responseBytes = 100;
  t.complete(r);
}

const variants: [string, () => void][] = [
  ["peer: downstreamFields alone", peerFields],
  [
    "telemetry: metrics only (defaults)",
    (
      (t) => () =>
        oneRequest(t)
    )(telemetry({ mode: "off", sampleRate: 0 }, false)),
  ],
  [
    "telemetry: + access log all (null sink)",
    (
      (t) => () =>
        oneRequest(t)
    )(telemetry({ mode: "all", sampleRate: 0 }, false)),
  ],
  [
    "telemetry: + tracing, every request sampled (no-op exporter)",
    (
      (t) => () =>
        oneRequest(t)
    )(telemetry({ mode: "off", sampleRate: 0 }, true)),
  ],
];

const samples = new Map<string, number[]>(variants.map(([name]) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of variants) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < N; i++) fn();
    samples.get(name)?.push(Number(process.hrtime.bigint() - start) / N);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const peer = median(samples.get(variants[0]?.[0] ?? "") ?? []);
process.stdout.write(`bench:telemetry, node ${process.version}, availableParallelism ${availableParallelism()}, `);
process.stdout.write(
  `${N.toLocaleString()} requests x ${ROUNDS} alternating rounds, median (shared machine: rough)\n\n`,
);
process.stdout.write(`${"variant".padEnd(64)}${"ns/request".padStart(12)}${"x peer".padStart(9)}\n`);
for (const [name] of variants) {
  const m = median(samples.get(name) ?? []);
  process.stdout.write(`${name.padEnd(64)}${m.toFixed(0).padStart(12)}${(m / peer).toFixed(2).padStart(9)}\n`);
}

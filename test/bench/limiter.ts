/**
 * Cost of the rate-limit admission check on a request that is admitted
 * without waiting (the hot path), next to limiter's TokenBucket for the
 * choice made in docs/resilience.md. A benchmark, not a test: figures are
 * rough on a shared machine.
 */
import { availableParallelism } from "node:os";
import { TokenBucket as LimiterTokenBucket } from "limiter";
import { systemClock } from "../../src/common/clock.ts";
import { KeyedLimiter } from "../../src/sidecar/resilience/keyed-limiter.ts";
import { RateLimit } from "../../src/sidecar/resilience/rate-limit.ts";
import { TokenBucket } from "../../src/sidecar/resilience/token-bucket.ts";

const N = 2_000_000;
/** Far above what the loop can offer, so every check admits: the cost of a non-binding limit. */
const RATE = 1e9;

interface Row {
  name: string;
  wallNs: number;
  cpuNs: number;
  admitted: number;
}

function measure(name: string, check: (i: number) => boolean): Row {
  for (let i = 0; i < 200_000; i++) check(i);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let admitted = 0;
  for (let i = 0; i < N; i++) if (check(i)) admitted++;
  const wall = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  return { name, wallNs: wall / N, cpuNs: ((cpu.user + cpu.system) * 1000) / N, admitted };
}

const keys = Array.from({ length: 1000 }, (_, i) => `key-${i}`);
const local = new KeyedLimiter(new TokenBucket(RATE, 1000), 10_000, systemClock);
const keyed = new KeyedLimiter(new TokenBucket(RATE, 1000), 10_000, systemClock);
const policy = new RateLimit({ ratePerSecond: RATE, keyed: false, source: { kind: "local", limiter: local } });
const lib = new LimiterTokenBucket({ bucketSize: 1000, tokensPerInterval: RATE, interval: "second" });

const rows = [
  measure("RateLimit.admit (policy, no key)", () => policy.admit("")),
  measure("KeyedLimiter.tryTake (1,000 keys, LRU)", (i) => keyed.tryTake(keys[i % 1000] ?? "")),
  measure("limiter TokenBucket.tryRemoveTokens", () => lib.tryRemoveTokens(1)),
];

process.stdout.write(`limiter admission cost, ${N.toLocaleString()} admitted checks each\n`);
process.stdout.write(
  `node ${process.version}, availableParallelism ${availableParallelism()} (shared machine: rough figures)\n\n`,
);
process.stdout.write(
  `${"check".padEnd(42)}${"wall µs/op".padStart(12)}${"CPU µs/op".padStart(12)}${"admitted".padStart(12)}\n`,
);
for (const r of rows) {
  process.stdout.write(
    `${r.name.padEnd(42)}${(r.wallNs / 1000).toFixed(3).padStart(12)}${(r.cpuNs / 1000).toFixed(3).padStart(12)}${`${((100 * r.admitted) / N).toFixed(0)} %`.padStart(12)}\n`,
  );
}

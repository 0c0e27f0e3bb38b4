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
import { TokenBucket } from "../../src/sidecar/resilience/token-bucket.ts";
import { measureCost, policyAdmitCost, NON_BINDING_RATE as RATE } from "./admit-cost.ts";

const N = 2_000_000;

const keys = Array.from({ length: 1000 }, (_, i) => `key-${i}`);
const keyed = new KeyedLimiter(new TokenBucket(RATE, 1000), 10_000, systemClock);
const lib = new LimiterTokenBucket({ bucketSize: 1000, tokensPerInterval: RATE, interval: "second" });

const rows = [
  policyAdmitCost(N),
  measureCost("KeyedLimiter.tryTake (1,000 keys, LRU)", N, (i) => keyed.tryTake(keys[i % 1000] ?? "")),
  measureCost("limiter TokenBucket.tryRemoveTokens", N, () => lib.tryRemoveTokens(1)),
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

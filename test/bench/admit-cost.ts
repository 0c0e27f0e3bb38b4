/** The CPU and wall time of one rate-limit check that admits (a non-binding limit), for bench:limiter and bench:proxy. */
import { systemClock } from "../../src/common/clock.ts";
import { KeyedLimiter } from "../../src/sidecar/resilience/keyed-limiter.ts";
import { RateLimit } from "../../src/sidecar/resilience/rate-limit.ts";
import { TokenBucket } from "../../src/sidecar/resilience/token-bucket.ts";

/** Far above what a loop can offer, so every check admits: the cost of a non-binding limit. */
export const NON_BINDING_RATE = 1e9;

export interface Cost {
  name: string;
  wallNs: number;
  cpuNs: number;
  admitted: number;
}

export function measureCost(name: string, n: number, check: (i: number) => boolean): Cost {
  for (let i = 0; i < 200_000; i++) check(i);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let admitted = 0;
  for (let i = 0; i < n; i++) if (check(i)) admitted++;
  const wall = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  return { name, wallNs: wall / n, cpuNs: ((cpu.user + cpu.system) * 1000) / n, admitted };
}

/** The policy check the sidecar runs on every request of a rate-limited route. */
export function policyAdmitCost(n: number): Cost {
  const local = new KeyedLimiter(new TokenBucket(NON_BINDING_RATE, 1000), 10_000, systemClock);
  const policy = new RateLimit({
    ratePerSecond: NON_BINDING_RATE,
    keyed: false,
    source: { kind: "local", limiter: local },
  });
  return measureCost("RateLimit.admit (policy, no key)", n, () => policy.admit("") === true);
}

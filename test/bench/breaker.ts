/**
 * bench:breaker — the cost of one upstream attempt through the circuit breaker: meshlet's own
 * (src/sidecar/resilience/breaker.ts) next to opossum 10 wrapped as the sidecar used it before (a failed
 * outcome carried through opossum's rejection path so it counts, its timer off, no snapshots, no
 * percentiles). Each attempt resolves at once, 1 in 100 with a 503, so the window counts failures and
 * the breaker stays closed: what a healthy upstream costs. Median of alternating rounds, ratio own/opossum.
 * A benchmark, not a test: figures are rough on a shared machine.
 *
 * Env: BENCH_ROUNDS (default 7), BENCH_ATTEMPTS (per round, default 300,000).
 */
import { availableParallelism } from "node:os";
import CircuitBreaker from "opossum";
import { systemClock } from "../../src/common/clock.ts";
import {
  type AttemptOutcome,
  Breaker,
  CIRCUIT_OPEN,
  defaultFailureStatuses,
} from "../../src/sidecar/resilience/breaker.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const ATTEMPTS = Number(process.env.BENCH_ATTEMPTS ?? 300_000);
const SPEC = {
  errorThresholdPercentage: 50,
  volumeThreshold: 20,
  rollingWindowMs: 10_000,
  resetTimeoutMs: 5_000,
  failureStatuses: defaultFailureStatuses(),
};

type Run = (attempt: () => Promise<AttemptOutcome>) => Promise<AttemptOutcome | typeof CIRCUIT_OPEN>;

/** opossum as src/sidecar/resilience/breaker.ts used it until it was replaced. */
function opossumRun(): { run: Run; stop: () => void } {
  class FailedAttempt {
    readonly outcome: AttemptOutcome;
    constructor(outcome: AttemptOutcome) {
      this.outcome = outcome;
    }
  }
  const cb = new CircuitBreaker(
    (attempt: () => Promise<AttemptOutcome>) =>
      attempt().then((o) =>
        o.status !== undefined && SPEC.failureStatuses.has(o.status) ? Promise.reject(new FailedAttempt(o)) : o,
      ),
    {
      timeout: false,
      errorThresholdPercentage: SPEC.errorThresholdPercentage,
      volumeThreshold: SPEC.volumeThreshold,
      resetTimeout: SPEC.resetTimeoutMs,
      rollingCountTimeout: SPEC.rollingWindowMs,
      rollingCountBuckets: 10,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
    },
  );
  const run: Run = async (attempt) => {
    try {
      return await cb.fire(attempt);
    } catch (err) {
      if (err instanceof FailedAttempt) return err.outcome;
      return CIRCUIT_OPEN;
    }
  };
  return { run, stop: () => cb.shutdown() };
}

function ownRun(): { run: Run; stop: () => void } {
  const b = new Breaker("bench", SPEC, systemClock);
  return { run: (attempt) => b.run(attempt), stop: () => b.shutdown() };
}

const OK = Promise.resolve<AttemptOutcome>({ status: 200 });
const FAILED = Promise.resolve<AttemptOutcome>({ status: 503 });

async function round(make: () => { run: Run; stop: () => void }): Promise<number> {
  const { run, stop } = make();
  let open = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < ATTEMPTS; i++) {
    const attempt = i % 100 === 0 ? () => FAILED : () => OK;
    if ((await run(attempt)) === CIRCUIT_OPEN) open++;
  }
  const ns = Number(process.hrtime.bigint() - started) / ATTEMPTS;
  stop();
  if (open > 0) throw new Error(`the breaker opened (${open} refused): the bench must measure the closed path`);
  return ns;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function main(): Promise<void> {
  // Warm both up (JIT) before anything is counted.
  await round(ownRun);
  await round(opossumRun);
  const own: number[] = [];
  const lib: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      own.push(await round(ownRun));
      lib.push(await round(opossumRun));
    } else {
      lib.push(await round(opossumRun));
      own.push(await round(ownRun));
    }
  }
  const o = median(own);
  const p = median(lib);
  process.stdout.write(
    `bench:breaker — ${availableParallelism()} CPUs, Node ${process.version}, ${ATTEMPTS.toLocaleString()} attempts per round (1 % 503), median of ${ROUNDS} alternating rounds\n\n`,
  );
  process.stdout.write("| breaker | ns/attempt (median) | rounds (ns/attempt) |\n|---|---|---|\n");
  process.stdout.write(`| meshlet Breaker | ${o.toFixed(0)} | ${own.map((x) => x.toFixed(0)).join(", ")} |\n`);
  process.stdout.write(
    `| opossum 10 (as used before) | ${p.toFixed(0)} | ${lib.map((x) => x.toFixed(0)).join(", ")} |\n`,
  );
  process.stdout.write(`\nown / opossum: ${(o / p).toFixed(2)}x\n`);
}

await main();

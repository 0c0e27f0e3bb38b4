/**
 * Runs the simulator over many seeds: `npm run sim -- --seed N` replays one
 * (with a trace), `npm run sim -- --seeds N [--from S]` runs a campaign,
 * printing progress and stopping at the first failure or after N seeds.
 */
import { parseArgs } from "node:util";
import { runSeed } from "./cluster.ts";

const { values } = parseArgs({
  options: {
    seed: { type: "string" },
    seeds: { type: "string" },
    from: { type: "string" },
    quiet: { type: "boolean" },
  },
});

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

if (values.seed !== undefined) {
  const seed = Number(values.seed);
  try {
    const r = runSeed(seed, values.quiet === true ? undefined : out);
    out(`seed ${seed} ok: ${JSON.stringify(r)}`);
  } catch (err) {
    out(`seed ${seed} FAILED: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
} else {
  const count = Number(values.seeds ?? "1000");
  const from = Number(values.from ?? "1");
  const started = performance.now();
  let done = 0;
  for (let seed = from; seed < from + count; seed++) {
    try {
      runSeed(seed);
    } catch (err) {
      out(`seed ${seed} FAILED: ${err instanceof Error ? err.message : String(err)}`);
      out(`replay: npm run sim -- --seed ${seed}`);
      process.exitCode = 1;
      break;
    }
    done++;
    if (done % 1000 === 0) out(`${done}/${count} seeds ok (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
  out(`${done} seeds passed from ${from} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

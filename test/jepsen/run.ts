/**
 * Long Jepsen-style runs outside `npm test`: npm run jepsen -- --minutes 10 [--seed N] [--clients N]
 * [--artifacts DIR] (where a non-linearizable run leaves its history).
 * Needs a built dist/ (npm run build).
 */
import { parseArgs } from "node:util";
import { runJepsen } from "./workload.ts";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "1" },
    seed: { type: "string" },
    clients: { type: "string", default: "5" },
    artifacts: { type: "string" },
  },
});
const seed = Number(values.seed ?? Date.now() % 1_000_000);
const minutes = Number(values.minutes);
if (!(minutes > 0)) throw new Error(`--minutes: expected a positive number, got "${values.minutes}"`);
const report = await runJepsen({
  durationMs: minutes * 60_000,
  seed,
  clients: Number(values.clients),
  log: (line) => process.stdout.write(`nemesis ${line}\n`),
  artifactsDir: values.artifacts,
});
process.stdout.write(
  `seed ${seed}: ${report.ops} ops, ${report.ok} completed, ${report.unknown} unknown; linearizable: ${report.linearizable}${report.badKeys.length > 0 ? ` (bad keys ${report.badKeys.join(",")})` : ""}\n`,
);
if (report.historyFile !== undefined) process.stdout.write(`history in ${report.historyFile}\n`);
for (const [key, lines] of report.minimal)
  process.stdout.write(`minimal bad sub-history of ${key}:\n  ${lines.join("\n  ")}\n`);
process.exitCode = report.linearizable ? 0 : 1;

/**
 * `npm test`: every test file, two at a time, then the few in SOLO one at a time. On two cores `node --test`
 * runs one file at a time by default, and most of the suite's time is processes waiting for timers (leases,
 * certificate overlaps, drains): two at a time takes about two thirds of the time. The files in SOLO assert how
 * fast something happens on a machine they load themselves, or load it on purpose; next to another file they
 * measure their neighbour. Arguments are passed on to `node --test` (e.g. `npm test -- --test-name-pattern=X`).
 */
import { spawnSync } from "node:child_process";
import { globSync } from "node:fs";

const SOLO = new Map<string, string>([
  ["test/integration/dashboard.test.ts", "a real Chromium must show each change within a second"],
  ["test/integration/demo.test.ts", "the demo must come up in under 20 s"],
  [
    "test/integration/drills.test.ts",
    "three nodes and ten processes of the demo mesh, with thresholds on its answers under load",
  ],
  ["test/integration/chaos.test.ts", "experiments are checked against their deadlines while nodes are killed"],
  ["test/integration/resilience.test.ts", "an overflow must be answered without waiting (under 400 ms)"],
  ["test/integration/faults.test.ts", "injected delays and timeouts are checked to the 100 ms"],
  ["test/integration/status-reads.test.ts", "/v1/cluster must answer within 200 ms with the leader frozen"],
  ["test/integration/app-health.test.ts", "deregistered and registered again within 2 s, on a port it re-binds"],
  ["test/integration/cold-start.test.ts", "ready in under 2.5 s"],
  ["test/controlplane/http/hostile.test.ts", "reads under 500 ms while it loads the node with a 3.5 MB apply"],
  ["test/sidecar/resilience/global-reservoir.test.ts", "a take under 20 ms, admit rates driven by real timers"],
]);

const files = globSync("test/**/*.test.ts").sort();
const missing = [...SOLO.keys()].filter((f) => !files.includes(f));
if (missing.length > 0) {
  // A renamed file would otherwise run next to another one again, unnoticed.
  process.stderr.write(`test/suite.ts: SOLO names files that do not exist: ${missing.join(", ")}\n`);
  process.exit(2);
}

const passOn = process.argv.slice(2);
const run = (concurrency: number, list: string[]): number => {
  const r = spawnSync(
    process.execPath,
    [
      "--test",
      `--test-concurrency=${concurrency}`,
      "--test-timeout=180000",
      "--test-reporter=spec",
      ...passOn,
      ...list,
    ],
    { stdio: "inherit" },
  );
  return r.status ?? 1;
};

const together = run(
  2,
  files.filter((f) => !SOLO.has(f)),
);
const alone = run(1, [...SOLO.keys()]);
process.exitCode = together === 0 && alone === 0 ? 0 : 1;

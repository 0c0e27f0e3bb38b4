import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { runJepsen } from "./workload.ts";

test("Jepsen-style: put/CAS/linearizable get under kill -9 and link cuts stays linearizable", {
  timeout: 90_000,
}, async (t) => {
  const seed = Number(process.env.MESHLET_JEPSEN_SEED ?? Date.now() % 1_000_000);
  // history.json is kept when the history is not linearizable (or the run never ends), to be read afterwards.
  const artifactsDir = fs.mkdtempSync(path.join(os.tmpdir(), "meshlet-jepsen-"));
  const report = await runJepsen({ durationMs: 30_000, seed, artifactsDir });
  const summary = `seed ${seed}: ${report.ops} ops (${report.ok} completed, ${report.unknown} unknown); nemesis: ${report.nemesis.join(", ")}`;
  t.diagnostic(summary);
  assert.ok(report.ok > 100, `too few completed operations to mean anything: ${summary}`);
  assert.ok(report.nemesis.length >= 4, `the nemesis barely acted: ${summary}`);
  const minimal = [...report.minimal].map(
    ([key, lines]) => `minimal bad sub-history of ${key}:\n  ${lines.join("\n  ")}`,
  );
  const overBudget =
    report.overBudgetKeys.length > 0 ? ` (search over budget on ${report.overBudgetKeys.join(",")})` : "";
  assert.equal(
    report.linearizable,
    true,
    `not linearizable on keys ${report.badKeys.join(",")}${overBudget}: ${summary}; history in ${report.historyFile}\n${minimal.join("\n")}`,
  );
  fs.rmSync(artifactsDir, { recursive: true, force: true });
});

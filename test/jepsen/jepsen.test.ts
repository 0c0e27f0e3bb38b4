import assert from "node:assert/strict";
import { test } from "node:test";
import { runJepsen } from "./workload.ts";

test("Jepsen-style: put/CAS/linearizable get under kill -9 and link cuts stays linearizable", {
  timeout: 90_000,
}, async (t) => {
  const seed = Number(process.env.MESHLET_JEPSEN_SEED ?? Date.now() % 1_000_000);
  const report = await runJepsen({ durationMs: 30_000, seed });
  const summary = `seed ${seed}: ${report.ops} ops (${report.ok} completed, ${report.unknown} unknown); nemesis: ${report.nemesis.join(", ")}`;
  t.diagnostic(summary);
  assert.ok(report.ok > 100, `too few completed operations to mean anything: ${summary}`);
  assert.ok(report.nemesis.length >= 4, `the nemesis barely acted: ${summary}`);
  assert.equal(report.linearizable, true, `not linearizable on keys ${report.badKeys.join(",")}: ${summary}`);
});

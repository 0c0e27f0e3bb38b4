import assert from "node:assert/strict";
import { test } from "node:test";
import { InvariantViolation, runSeed } from "./cluster.ts";

/** Seeds per run; SIM_SEEDS overrides it (e.g. a quick local run). */
const SEEDS = Number(process.env.SIM_SEEDS ?? "1000");
const FIRST = Number(process.env.SIM_FIRST_SEED ?? "1");

test(`simulated 3- and 5-node clusters keep every safety property and recover (${SEEDS} seeds)`, () => {
  let acked = 0;
  let reads = 0;
  let crashes = 0;
  let snapshots = 0;
  let confChanges = 0;
  let transfers = 0;
  for (let seed = FIRST; seed < FIRST + SEEDS; seed++) {
    try {
      const r = runSeed(seed);
      acked += r.acked;
      reads += r.reads;
      crashes += r.crashes;
      snapshots += r.snapshotsSent;
      confChanges += r.confChanges;
      transfers += r.transfers;
    } catch (err) {
      const why = err instanceof InvariantViolation ? err.message : String(err instanceof Error ? err.stack : err);
      assert.fail(`seed ${seed} failed: ${why}\nreplay: npm run sim -- --seed ${seed}`);
    }
  }
  // The runs must actually exercise what they claim to check.
  assert.ok(acked > SEEDS * 10, `only ${acked} acknowledged writes`);
  assert.ok(reads > SEEDS, `only ${reads} linearizable reads`);
  assert.ok(crashes > SEEDS, `only ${crashes} crashes`);
  assert.ok(snapshots > SEEDS / 4, `only ${snapshots} snapshots sent`);
  assert.ok(confChanges > SEEDS / 2, `only ${confChanges} membership changes`);
  assert.ok(transfers > SEEDS / 2, `only ${transfers} leadership transfers`);
});

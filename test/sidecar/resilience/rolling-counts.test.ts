import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RollingCounts } from "../../../src/sidecar/resilience/rolling-counts.ts";

describe("RollingCounts", () => {
  it("counts what happened in the last window, slot by slot", () => {
    const w = new RollingCounts(1_000, 10);
    assert.deepEqual(w.totals(0), { attempts: 0, failures: 0 });
    w.record(true, 0);
    w.record(false, 50);
    w.record(true, 150);
    assert.deepEqual(w.totals(150), { attempts: 3, failures: 2 });
    assert.deepEqual(w.totals(999), { attempts: 3, failures: 2 });
    assert.deepEqual(w.totals(1_000), { attempts: 1, failures: 1 }, "the first slot rolled off");
    assert.deepEqual(w.totals(1_100), { attempts: 0, failures: 0 });
  });

  it("reuses a slot a window later without its old counts", () => {
    const w = new RollingCounts(1_000, 10);
    w.record(true, 5_020);
    w.record(false, 6_030);
    assert.deepEqual(w.totals(6_030), { attempts: 1, failures: 0 });
  });

  it("reset forgets everything, whatever the time", () => {
    const w = new RollingCounts(10_000, 10);
    for (let t = 0; t < 5_000; t += 100) w.record(true, t);
    w.reset();
    assert.deepEqual(w.totals(5_000), { attempts: 0, failures: 0 });
    w.record(false, 5_000);
    assert.deepEqual(w.totals(5_000), { attempts: 1, failures: 0 });
  });
});

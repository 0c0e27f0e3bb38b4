import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { guardAttempt, isOutlierFailure } from "../../../src/sidecar/resilience/guard.ts";
import { newCompiler, policy } from "./helpers.ts";

describe("guardAttempt", () => {
  it("runs the attempt alone without a policy", async () => {
    const { metrics } = newCompiler();
    assert.deepEqual(await guardAttempt(undefined, () => Promise.resolve({ status: 200 }), metrics), {
      kind: "done",
      outcome: { status: 200 },
    });
  });

  it("answers overflow beyond maxRequests and frees the slot when an attempt ends", async (t) => {
    const { compiler, metrics, registry } = newCompiler();
    t.after(() => compiler.stop());
    const p = compiler.compile([policy("a", { target: { service: "a" }, limits: { maxRequests: 1 } })]).forService("a");
    let release: () => void = () => {};
    const first = guardAttempt(
      p,
      () => new Promise<{ status: number }>((r) => (release = () => r({ status: 200 }))),
      metrics,
    );
    assert.deepEqual(await guardAttempt(p, () => Promise.resolve({ status: 200 }), metrics), {
      kind: "overflow",
      limit: "maxRequests",
    });
    release();
    assert.equal((await first).kind, "done");
    assert.equal((await guardAttempt(p, () => Promise.resolve({ status: 200 }), metrics)).kind, "done");
    assert.match(await registry.getSingleMetricAsString("meshlet_overflow_requests_total"), /limit="maxRequests"} 1/);
  });

  it("frees the slot when the attempt throws", async (t) => {
    const { compiler, metrics } = newCompiler();
    t.after(() => compiler.stop());
    const p = compiler.compile([policy("a", { target: { service: "a" }, limits: { maxRequests: 1 } })]).forService("a");
    await assert.rejects(guardAttempt(p, () => Promise.reject(new Error("x")), metrics));
    assert.equal(p?.limits?.active, 0);
  });

  it("answers open once the breaker trips, and feeds outlier detection per endpoint", async (t) => {
    const { compiler, metrics } = newCompiler();
    t.after(() => compiler.stop());
    const p = compiler
      .compile([
        policy("a", {
          target: { service: "a" },
          circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 3 },
          outlierDetection: { consecutiveErrors: 2, maxEjectionPercent: 100 },
        }),
      ])
      .forService("a");
    p?.outlier?.setEndpoints(["10.0.0.1:80", "10.0.0.2:80"]);
    await guardAttempt(p, () => Promise.resolve({ status: 502, endpoint: "10.0.0.1:80" }), metrics);
    await guardAttempt(p, () => Promise.resolve({ error: "connect" as const, endpoint: "10.0.0.1:80" }), metrics);
    assert.equal(p?.outlier?.isEjected("10.0.0.1:80"), true);
    assert.equal(p?.outlier?.isEjected("10.0.0.2:80"), false);
    await guardAttempt(p, () => Promise.resolve({ status: 500, endpoint: "10.0.0.2:80" }), metrics);
    assert.deepEqual(await guardAttempt(p, () => Promise.resolve({ status: 200 }), metrics), { kind: "open" });
  });

  it("counts 5xx (501 too) and gateway errors as outlier failures, 4xx not", () => {
    assert.equal(isOutlierFailure({ status: 501 }), true);
    assert.equal(isOutlierFailure({ error: "timeout" }), true);
    assert.equal(isOutlierFailure({ status: 404 }), false);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Policy } from "../../../src/config/resources.ts";
import { BREAKER_OPEN } from "../../../src/sidecar/resilience/breaker.ts";
import { burstCapacity, validatePolicies } from "../../../src/sidecar/resilience/compile.ts";
import { PolicyRejectedError } from "../../../src/sidecar/resilience/errors.ts";
import { newCompiler, policy } from "./helpers.ts";

const cb = { errorThresholdPercentage: 50, volumeThreshold: 1 };

/** A policy as it might arrive from elsewhere, bypassing this schema's checks. */
function raw(name: string, spec: Record<string, unknown>): Policy {
  return { apiVersion: "meshlet.dev/v1", kind: "Policy", metadata: { name }, spec } as unknown as Policy;
}

describe("PolicyCompiler", () => {
  it("builds each part of a policy and looks it up by service and route", (t) => {
    const { compiler } = newCompiler();
    t.after(() => compiler.stop());
    const set = compiler.compile([
      policy("ratings", {
        target: { service: "ratings" },
        circuitBreaker: cb,
        limits: { maxRequests: 5 },
        rateLimit: { requestsPerSecond: 10, key: { header: "X-Api-Key" } },
        fallback: { on: ["circuitOpen"], static: { body: "{}" } },
        outlierDetection: {},
      }),
      policy("checkout", { target: { route: "checkout" }, healthCheck: { path: "/healthz" } }),
    ]);
    const p = set.forService("ratings");
    assert.ok(p?.breaker && p.limits && p.rateLimit && p.fallback && p.outlier);
    assert.deepEqual(p.rateLimitKey, { header: "x-api-key" });
    assert.equal(p.inboundRateLimit, undefined, "only the local service's policy limits inbound");
    assert.ok(set.forRoute("checkout")?.healthCheck);
    assert.equal(set.resolve("ratings", "checkout")?.name, "checkout");
    assert.equal(set.resolve("ratings", "other")?.name, "ratings");
    assert.deepEqual(set.breakerStates(), [{ target: "service/ratings", state: 0 }]);
    compiler.activate();
  });

  it("builds an inbound limiter for the sidecar's own service", (t) => {
    const { compiler } = newCompiler();
    t.after(() => compiler.stop());
    const set = compiler.compile([
      policy("self", { target: { service: "self" }, rateLimit: { requestsPerSecond: 5 } }),
    ]);
    const p = set.forService("self");
    assert.ok(p?.inboundRateLimit);
    assert.notEqual(p.inboundRateLimit, p.rateLimit, "inbound and outbound budgets are separate");
  });

  it("keeps breaker state and bucket tokens across snapshots when the policy is unchanged", async (t) => {
    const { compiler, registry } = newCompiler();
    t.after(() => compiler.stop());
    const a = policy("a", {
      target: { service: "a" },
      circuitBreaker: cb,
      rateLimit: { requestsPerSecond: 1, burst: 1 },
    });
    const b = policy("b", { target: { service: "b" }, circuitBreaker: cb });
    const first = compiler.compile([a, b]);
    compiler.activate();
    await first.forService("a")?.breaker?.run(() => Promise.resolve({ status: 500 }));
    assert.equal(first.forService("a")?.breaker?.state, BREAKER_OPEN);
    assert.equal(first.forService("a")?.rateLimit?.admit(""), true);

    const changedB = policy("b", { target: { service: "b" }, circuitBreaker: { ...cb, volumeThreshold: 7 } });
    const second = compiler.compile([a, changedB]);
    compiler.activate();
    assert.equal(second.forService("a")?.breaker, first.forService("a")?.breaker);
    assert.equal(second.forService("a")?.breaker?.state, BREAKER_OPEN);
    assert.equal(second.forService("a")?.rateLimit?.admit(""), false, "the bucket kept its spent token");
    assert.notEqual(second.forService("b")?.breaker, first.forService("b")?.breaker, "a changed policy starts fresh");
    const metrics = await registry.getSingleMetricAsString("meshlet_circuit_breaker_state");
    assert.match(metrics, /target="service\/a"} 2/);
    assert.match(metrics, /target="service\/b"} 0/);
  });

  it("stops parts that a new snapshot no longer uses", async (t) => {
    const { compiler, registry } = newCompiler();
    t.after(() => compiler.stop());
    compiler.compile([policy("a", { target: { service: "a" }, circuitBreaker: cb })]);
    compiler.activate();
    compiler.compile([]);
    compiler.activate();
    assert.doesNotMatch(await registry.getSingleMetricAsString("meshlet_circuit_breaker_state"), /service\/a/);
  });

  it("NACKs out-of-range values with the field path and changes nothing", (t) => {
    const { compiler } = newCompiler();
    t.after(() => compiler.stop());
    const good = compiler.compile([policy("a", { target: { service: "a" }, circuitBreaker: cb })]);
    compiler.activate();
    const bad = [
      raw("pct", { target: { service: "x" }, circuitBreaker: { errorThresholdPercentage: 150 } }),
      raw("neg", { target: { service: "y" }, rateLimit: { requestsPerSecond: -5 } }),
      raw("win", { target: { service: "z" }, circuitBreaker: { errorThresholdPercentage: 50, rollingWindow: "0s" } }),
    ];
    const err = (() => {
      try {
        compiler.compile(bad);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof PolicyRejectedError);
    assert.equal(err.code, "ERR_POLICY_REJECTED");
    const paths = err.issues.map((i) => `${i.resource} ${i.path}`);
    assert.ok(paths.includes("Policy/pct spec.circuitBreaker.errorThresholdPercentage"), paths.join());
    assert.ok(paths.includes("Policy/neg spec.rateLimit.requestsPerSecond"), paths.join());
    assert.ok(paths.includes("Policy/win spec.circuitBreaker.rollingWindow"), paths.join());
    assert.equal(good.forService("a")?.breaker?.state, 0, "the previous set still works");
  });

  it("runs a global limit without Redis on a local bucket at the full rate, flagged degraded", async (t) => {
    const { compiler, registry } = newCompiler();
    t.after(() => compiler.stop());
    const set = compiler.compile([
      policy("g", {
        target: { service: "g" },
        rateLimit: { requestsPerSecond: 5, scope: "global" },
        circuitBreaker: cb,
      }),
    ]);
    compiler.activate();
    const p = set.forService("g");
    assert.ok(p?.rateLimit && p.breaker, "the rest of the policy is kept");
    const text = await registry.metrics();
    assert.match(text, /meshlet_rate_limit_global_degraded\{target="service\/g"\} 1/);
    assert.deepEqual(
      validatePolicies([
        policy("g", { target: { service: "g" }, rateLimit: { requestsPerSecond: 5, scope: "global" } }),
      ]),
      [],
    );
  });

  it("sizes the bucket from burst, or a tenth of a second of rate", () => {
    assert.equal(burstCapacity(100, 20), 20);
    assert.equal(burstCapacity(100, 0), 1);
    assert.equal(burstCapacity(50, undefined), 5);
    assert.equal(burstCapacity(3, undefined), 1);
  });
});

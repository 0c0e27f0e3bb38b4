import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { FaultExperiment, Resource } from "../../../src/config/resources.ts";
import { compileFaultPlan, countFaults, faultBucket } from "../../../src/sidecar/faults/plan.ts";

function experiment(name: string, spec: Partial<FaultExperiment["spec"]>, started = true): FaultExperiment {
  return {
    apiVersion: "meshlet.dev/v1",
    kind: "FaultExperiment",
    metadata: { name },
    spec: { target: { service: "ratings" }, kind: "reset", side: "outbound", percent: 100, duration: "10s", ...spec },
    ...(started ? { status: { deadline: 5_000, startedAt: 0, startedBy: "t" } } : {}),
  };
}

const self = { service: "ratings", instance: "ratings-1", labels: { version: "v2" } };

describe("fault plan", () => {
  it("outbound experiments by target; inbound ones only where the target, labels and instance share select this sidecar", () => {
    const resources: Resource[] = [
      experiment("out", {}),
      experiment("in-v2", { side: "inbound", target: { service: "ratings", labels: { version: "v2" } } }),
      experiment("in-v1", { side: "inbound", target: { service: "ratings", labels: { version: "v1" } } }),
      experiment("in-other", { side: "inbound", target: { service: "reviews" } }),
      experiment("never-started", {}, false),
    ];
    const plan = compileFaultPlan(resources, self);
    assert.deepEqual(
      plan.outbound.get("ratings")?.map((e) => e.name),
      ["out"],
    );
    assert.deepEqual(
      plan.inbound?.map((e) => e.name),
      ["in-v2"],
    );
    assert.equal(plan.outbound.get("ratings")?.[0]?.deadline, 5_000);
  });

  it("instancePercent selects a stable share: about P % of instances, and those at P stay in at every larger P", () => {
    const ids = Array.from({ length: 2_000 }, (_, i) => `ratings-${i}`);
    const selected = (p: number) =>
      new Set(
        ids.filter(
          (instance) =>
            compileFaultPlan(
              [experiment("e", { side: "inbound", target: { service: "ratings", instancePercent: p } })],
              {
                ...self,
                instance,
              },
            ).inbound !== undefined,
        ),
      );
    const at20 = selected(20);
    const at50 = selected(50);
    assert.ok(Math.abs(at20.size - 400) <= 4 * Math.sqrt(2_000 * 0.2 * 0.8), `20 %: ${at20.size}`);
    for (const id of at20) assert.ok(at50.has(id), `${id} left when the share grew`);
    assert.equal(selected(0).size, 0);
    assert.equal(selected(100).size, 2_000);
    assert.equal(faultBucket("ratings", "x"), faultBucket("ratings", "x"));
  });

  it("counts route faults and experiments (what --no-faults refuses)", () => {
    const route: Resource = {
      apiVersion: "meshlet.dev/v1",
      kind: "Route",
      metadata: { name: "r" },
      spec: {
        hosts: ["ratings"],
        http: [
          {
            match: [],
            destinations: [{ service: "ratings", weight: 1 }],
            timeout: "1s",
            fault: { abort: { status: 503, percent: 5 } },
          },
          { match: [], destinations: [{ service: "ratings", weight: 1 }], timeout: "1s" },
        ],
      },
    };
    assert.equal(countFaults([route, experiment("e", {})]), 2);
  });
});

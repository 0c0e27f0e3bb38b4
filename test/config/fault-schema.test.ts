import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { faultExperimentSchema, routeSchema } from "../../src/config/resources.ts";

function routeWith(fault: unknown): unknown {
  return {
    apiVersion: "meshlet.dev/v1",
    kind: "Route",
    metadata: { name: "r" },
    spec: { hosts: ["r"], http: [{ destinations: [{ service: "r" }], fault }] },
  };
}

function experiment(spec: Record<string, unknown>, extra: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: "meshlet.dev/v1",
    kind: "FaultExperiment",
    metadata: { name: "e" },
    spec: { target: { service: "ratings" }, duration: "60s", ...spec },
    ...extra,
  };
}

describe("route fault schema", () => {
  const bad: [string, unknown, RegExp][] = [
    ["empty fault", {}, /set delay, abort or both/],
    ["unknown field", { delay: { fixed: "1s" }, drop: true }, /Unrecognized key/],
    ["percent over 100", { abort: { status: 503, percent: 101 } }, /100/],
    ["negative percent", { delay: { fixed: "1s", percent: -1 } }, /0/],
    ["status out of range", { abort: { status: 99 } }, /200/],
    ["status 600", { abort: { status: 600 } }, /599/],
    ["status and grpcStatus", { abort: { status: 503, grpcStatus: 14 } }, /exactly one of status, grpcStatus/],
    ["neither status", { abort: { percent: 5 } }, /exactly one of status, grpcStatus/],
    ["grpcStatus 0 (OK is not a fault)", { abort: { grpcStatus: 0 } }, /1/],
    ["grpcStatus 17", { abort: { grpcStatus: 17 } }, /16/],
    ["zero delay", { delay: { fixed: "0s" } }, /greater than zero/],
    ["delay past a day", { delay: { fixed: "25h" } }, /at most/],
    ["delay not a duration", { delay: { fixed: "soon" } }, /duration/],
  ];
  for (const [what, fault, message] of bad) {
    it(`refuses ${what}`, () => {
      const r = routeSchema.safeParse(routeWith(fault));
      assert.equal(r.success, false);
      assert.match(r.error?.issues.map((i) => i.message).join("; ") ?? "", message);
    });
  }

  it("fills percent 100 when left out", () => {
    const r = routeSchema.parse(routeWith({ delay: { fixed: "100ms" }, abort: { status: 503 } }));
    assert.deepEqual(r.spec.http[0]?.fault, {
      delay: { fixed: "100ms", percent: 100 },
      abort: { status: 503, percent: 100 },
    });
  });
});

describe("FaultExperiment schema", () => {
  const bad: [string, unknown, RegExp][] = [
    ["no duration", experiment({ kind: "reset", duration: undefined }), /expected string/],
    ["duration past a day", experiment({ kind: "reset", duration: "48h" }), /at most/],
    ["unknown kind", experiment({ kind: "partition" }), /Invalid option/],
    ["delay without parameters", experiment({ kind: "delay" }), /kind: delay needs delay/],
    ["parameters of another kind", experiment({ kind: "reset", delay: { fixed: "1s" } }), /kind: delay needs delay/],
    ["abort with both statuses", experiment({ kind: "abort", abort: { status: 503, grpcStatus: 2 } }), /exactly one/],
    ["bandwidth of 0", experiment({ kind: "bandwidth", bandwidth: { bytesPerSecond: 0 } }), /1/],
    [
      "an instance selector on the outbound side",
      experiment({ kind: "reset", target: { service: "ratings", instancePercent: 50 } }),
      /need side: inbound/,
    ],
    [
      "instancePercent over 100",
      experiment({ kind: "reset", side: "inbound", target: { service: "ratings", instancePercent: 101 } }),
      /100/,
    ],
    ["an unknown side", experiment({ kind: "reset", side: "both" }), /Invalid option/],
    ["a bad target name", experiment({ kind: "reset", target: { service: "Ratings!" } }), /DNS-style/],
    [
      "a status with an unknown field",
      experiment({ kind: "reset" }, { status: { deadline: 1, startedAt: 0, startedBy: "x", extra: 1 } }),
      /Unrecognized key/,
    ],
  ];
  for (const [what, value, message] of bad) {
    it(`refuses ${what}`, () => {
      const r = faultExperimentSchema.safeParse(value);
      assert.equal(r.success, false);
      assert.match(r.error?.issues.map((i) => i.message).join("; ") ?? "", message);
    });
  }

  it("defaults: side outbound, percent 100", () => {
    const e = faultExperimentSchema.parse(experiment({ kind: "blackhole" }));
    assert.equal(e.spec.side, "outbound");
    assert.equal(e.spec.percent, 100);
  });
});

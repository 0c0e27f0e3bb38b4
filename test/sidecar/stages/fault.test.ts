import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Registry } from "prom-client";
import { FakeClock } from "../../../src/common/clock.ts";
import { silentLogger } from "../../../src/common/logger.ts";
import type { EngineRequest } from "../../../src/sidecar/engine/request.ts";
import type { EngineResponse } from "../../../src/sidecar/engine/response.ts";
import {
  type CompiledExperiment,
  type CompiledRouteFault,
  compileRouteFault,
  EMPTY_PLAN,
  type FaultPlan,
} from "../../../src/sidecar/faults/plan.ts";
import { SidecarMetrics } from "../../../src/sidecar/metrics.ts";
import type { CompiledHttpRoute } from "../../../src/sidecar/snapshot.ts";
import type { StageEnv } from "../../../src/sidecar/stages/env.ts";
import { fault } from "../../../src/sidecar/stages/fault.ts";
import { type Answer, type Direction, RequestContext } from "../../../src/sidecar/stages/stage.ts";
import type { RequestRecord } from "../../../src/sidecar/telemetry/record.ts";

/** mulberry32: a small seeded PRNG, so a run's draws are the same every time. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Harness {
  env: StageEnv;
  clock: FakeClock;
  metrics: SidecarMetrics;
  setWall(ms: number): void;
  setPlan(p: FaultPlan): void;
}

function harness(random: () => number): Harness {
  const clock = new FakeClock();
  const metrics = new SidecarMetrics(new Registry());
  let wall = 1_000_000;
  let plan = EMPTY_PLAN;
  const env = {
    clock,
    random,
    wallNow: () => wall,
    logger: silentLogger(),
    metrics,
    faults: () => plan,
  } as unknown as StageEnv;
  return {
    env,
    clock,
    metrics,
    setWall: (ms) => {
      wall = ms;
    },
    setPlan: (p) => {
      plan = p;
    },
  };
}

function route(timeoutMs: number, f: CompiledRouteFault | undefined): CompiledHttpRoute {
  return { name: "r", timeoutMs, fault: f } as unknown as CompiledHttpRoute;
}

interface Fake {
  ctx: RequestContext;
  abort(): void;
  destroyed(): boolean;
}

function request(r: CompiledHttpRoute, direction: Direction = "outbound", service = "ratings"): Fake {
  let onAbort: (() => void) | undefined;
  let destroyed = false;
  const req = { onAbort: (fn: () => void) => (onAbort = fn) } as unknown as EngineRequest;
  const res = {
    destroy: () => {
      destroyed = true;
    },
  } as unknown as EngineResponse;
  const ctx = new RequestContext(direction, req, res, 0, { sourceService: "web" } as RequestRecord, service);
  ctx.route = r;
  ctx.service = service;
  return { ctx, abort: () => onAbort?.(), destroyed: () => destroyed };
}

/** |observed − n·p| within 4 standard deviations of a binomial(n, p): fails by chance about once in 15,000 runs. */
function assertBinomial(observed: number, n: number, p: number, what: string): void {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  assert.ok(
    Math.abs(observed - mean) <= 4 * sd,
    `${what}: ${observed} of ${n}, expected ${mean.toFixed(0)} ± ${(4 * sd).toFixed(0)}`,
  );
}

const FAULT = compileRouteFault({ delay: { fixed: "100ms", percent: 10 }, abort: { status: 503, percent: 5 } });

function runMany(random: () => number, n: number): { delayed: number; aborted: number; untouched: number } {
  const h = harness(random);
  const stage = fault(h.env, () => {});
  const r = route(15_000, FAULT);
  let delayed = 0;
  let aborted = 0;
  let untouched = 0;
  for (let i = 0; i < n; i++) {
    const { ctx } = request(r);
    const out = stage(ctx);
    if (ctx.faultDelayMs === 100) delayed++;
    if (ctx.fault === "abort") aborted++;
    if (ctx.fault === undefined) {
      assert.equal(out, undefined);
      untouched++;
    }
  }
  return { delayed, aborted, untouched };
}

describe("fault stage: route faults", () => {
  it("delays 10 % and aborts 5 % of 2,000 requests (seeded), within a binomial tolerance", () => {
    const { delayed, aborted } = runMany(seeded(25), 2_000);
    assertBinomial(delayed, 2_000, 0.1, "delayed");
    assertBinomial(aborted, 2_000, 0.05, "aborted");
  });

  it("holds with Math.random too (one real run)", () => {
    const { delayed, aborted } = runMany(Math.random, 2_000);
    assertBinomial(delayed, 2_000, 0.1, "delayed");
    assertBinomial(aborted, 2_000, 0.05, "aborted");
  });

  it("0 % never draws and never injects; 100 % always injects", () => {
    let draws = 0;
    const h = harness(() => {
      draws++;
      return 0;
    });
    const stage = fault(h.env, () => {});
    const never = route(1_000, compileRouteFault({ abort: { status: 500, percent: 0 } }));
    for (let i = 0; i < 100; i++) assert.equal(stage(request(never).ctx), undefined);
    assert.equal(draws, 0);
    const always = route(1_000, compileRouteFault({ abort: { status: 500, percent: 100 } }));
    const a = stage(request(always).ctx) as Answer;
    assert.equal(a.flag, "FI");
    assert.equal(a.reply?.status, 500);
    assert.equal(a.reply?.headers["x-meshlet-flags"], "FI");
    assert.equal(draws, 0);
  });

  it("an abort with a gRPC status answers 200 with grpc-status in the head (Trailers-Only)", () => {
    const h = harness(() => 0);
    const stage = fault(h.env, () => {});
    const a = stage(
      request(route(1_000, compileRouteFault({ abort: { grpcStatus: 14, percent: 100 } }))).ctx,
    ) as Answer;
    assert.equal(a.reply?.status, 200);
    assert.equal(a.reply?.headers["grpc-status"], "14");
    assert.equal(a.reply?.headers["content-type"], "application/grpc");
  });

  it("a delay continues after exactly the delay, and takes it from the route's timeout", async () => {
    const h = harness(() => 0);
    const stage = fault(h.env, () => {});
    const { ctx } = request(route(1_000, compileRouteFault({ delay: { fixed: "100ms", percent: 100 } })));
    let settled: Answer | undefined | "pending" = "pending";
    void (stage(ctx) as Promise<Answer | undefined>).then((a) => {
      settled = a;
    });
    h.clock.advance(99);
    await Promise.resolve();
    assert.equal(settled, "pending");
    h.clock.advance(1);
    await Promise.resolve();
    assert.equal(settled, undefined);
    assert.equal(ctx.fault, "delay");
    assert.equal(ctx.faultDelayMs, 100);
    const counted = (await h.metrics.faults.get()).values;
    assert.deepEqual(
      counted.map((v) => [v.labels, v.value]),
      [[{ direction: "outbound", service: "ratings", fault: "delay" }, 1]],
    );
  });

  it("a delay longer than the route timeout answers UT when the timeout would fire, not after the delay", async () => {
    const h = harness(() => 0);
    const stage = fault(h.env, () => {});
    const { ctx } = request(route(50, compileRouteFault({ delay: { fixed: "10s", percent: 100 } })));
    let settled: Answer | undefined | "pending" = "pending";
    void (stage(ctx) as Promise<Answer | undefined>).then((a) => {
      settled = a;
    });
    h.clock.advance(49);
    await Promise.resolve();
    assert.equal(settled, "pending");
    h.clock.advance(1);
    await Promise.resolve();
    assert.deepEqual(settled, { flag: "UT", reply: undefined });
    assert.equal(ctx.fault, "delay");
  });

  it("a client that leaves during a delay is reported cancelled at once, and the chain gets nothing to answer", async () => {
    const h = harness(() => 0);
    const completed: RequestContext[] = [];
    const stage = fault(h.env, (c) => completed.push(c));
    const f = request(route(1_000, compileRouteFault({ delay: { fixed: "500ms", percent: 100 } })));
    const out = stage(f.ctx) as Promise<Answer | undefined>;
    f.abort();
    const a = await out;
    assert.deepEqual(a, { flag: undefined, reply: undefined });
    assert.equal(f.ctx.ending, "cancelled");
    assert.deepEqual(completed, [f.ctx]);
  });

  it("inbound requests ignore route faults (they are the caller's)", () => {
    const h = harness(() => 0);
    const stage = fault(h.env, () => {});
    const r = route(1_000, compileRouteFault({ abort: { status: 503, percent: 100 } }));
    assert.equal(stage(request(r, "inbound").ctx), undefined);
  });
});

function experiment(
  name: string,
  action: CompiledExperiment["action"],
  deadline: number,
  chance = 1,
): CompiledExperiment {
  return { name, chance, deadline, action };
}

describe("fault stage: experiments", () => {
  it("applies an outbound experiment to its target service only, and only before its deadline (sidecar clock)", () => {
    const h = harness(() => 0);
    const stage = fault(h.env, () => {});
    const abort = { kind: "abort" as const, reply: { status: 503, headers: {}, body: Buffer.alloc(0) } };
    h.setPlan({ outbound: new Map([["ratings", [experiment("e1", abort, 2_000_000)]]]), inbound: undefined });
    h.setWall(1_999_999);
    assert.equal((stage(request(route(1_000, undefined)).ctx) as Answer).flag, "FI");
    assert.equal(stage(request(route(1_000, undefined), "outbound", "reviews").ctx), undefined);
    h.setWall(2_000_000);
    assert.equal(stage(request(route(1_000, undefined)).ctx), undefined, "no longer applied at its deadline");
  });

  it("reset destroys the client's connection; blackhole answers UT only at the route timeout", async () => {
    const h = harness(() => 0);
    const stage = fault(h.env, () => {});
    h.setPlan({ outbound: EMPTY_PLAN.outbound, inbound: [experiment("r", { kind: "reset" }, 9e15)] });
    const reset = request(route(1_000, undefined), "inbound", "self");
    assert.equal((stage(reset.ctx) as Answer).flag, "FI");
    assert.ok(reset.destroyed());

    h.setPlan({ outbound: EMPTY_PLAN.outbound, inbound: [experiment("b", { kind: "blackhole" }, 9e15)] });
    const hole = request(route(300, undefined), "inbound", "self");
    let settled: Answer | undefined | "pending" = "pending";
    void (stage(hole.ctx) as Promise<Answer | undefined>).then((a) => {
      settled = a;
    });
    h.clock.advance(299);
    await Promise.resolve();
    assert.equal(settled, "pending");
    h.clock.advance(1);
    await Promise.resolve();
    assert.deepEqual(settled, { flag: "UT", reply: undefined });
  });

  it("bandwidth marks the request for a throttled body and continues", () => {
    const h = harness(() => 0);
    const stage = fault(h.env, () => {});
    h.setPlan({
      outbound: EMPTY_PLAN.outbound,
      inbound: [experiment("bw", { kind: "bandwidth", bytesPerSecond: 1000 }, 9e15)],
    });
    const f = request(route(1_000, undefined), "inbound", "self");
    assert.equal(stage(f.ctx), undefined);
    assert.equal(f.ctx.throttle, 1000);
    assert.equal(f.ctx.fault, "bandwidth");
  });

  it("an experiment at 30 % hits 30 % of 2,000 requests (seeded)", () => {
    const h = harness(seeded(7));
    const stage = fault(h.env, () => {});
    const abort = { kind: "abort" as const, reply: { status: 503, headers: {}, body: Buffer.alloc(0) } };
    h.setPlan({ outbound: new Map([["ratings", [experiment("e", abort, 9e15, 0.3)]]]), inbound: undefined });
    let hits = 0;
    for (let i = 0; i < 2_000; i++) if (stage(request(route(1_000, undefined)).ctx) !== undefined) hits++;
    assertBinomial(hits, 2_000, 0.3, "aborted");
  });
});

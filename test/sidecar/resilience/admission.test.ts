import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock, systemClock } from "../../../src/common/clock.ts";
import { createRegistry } from "../../../src/common/metrics.ts";
import { admitRate, rateLimitKeyOf } from "../../../src/sidecar/resilience/admission.ts";
import { KeyedLimiter } from "../../../src/sidecar/resilience/keyed-limiter.ts";
import { ResilienceMetrics } from "../../../src/sidecar/resilience/metrics.ts";
import { RateLimit } from "../../../src/sidecar/resilience/rate-limit.ts";
import { TokenBucket } from "../../../src/sidecar/resilience/token-bucket.ts";
import { WaitQueue } from "../../../src/sidecar/resilience/wait-queue.ts";

const at = { service: "ratings", target: "service/ratings", direction: "outbound" } as const;

describe("admitRate", () => {
  it("admits synchronously, then refuses with a counted 429", async () => {
    const registry = createRegistry({ processMetrics: false });
    const metrics = new ResilienceMetrics(registry);
    const clock = new FakeClock(1);
    const rl = new RateLimit({
      ratePerSecond: 1,
      keyed: false,
      source: { kind: "local", limiter: new KeyedLimiter(new TokenBucket(1, 1), 10, clock) },
    });
    assert.equal(admitRate(rl, "", at, metrics), true);
    const refused = admitRate(rl, "", at, metrics);
    assert.ok(refused instanceof Promise);
    const reply = await refused;
    assert.notEqual(reply, true);
    assert.equal(reply === true ? 0 : reply.status, 429);
    assert.match(
      await registry.getSingleMetricAsString("meshlet_rate_limited_requests_total"),
      /target="service\/ratings",direction="outbound"} 1/,
    );
  });

  it("waits in the queue when the policy has maxWait", async (t) => {
    const metrics = new ResilienceMetrics(createRegistry({ processMetrics: false }));
    const queue = new WaitQueue(10, systemClock);
    t.after(() => queue.stop());
    const rl = new RateLimit({
      ratePerSecond: 50,
      keyed: false,
      source: { kind: "local", limiter: new KeyedLimiter(new TokenBucket(50, 1), 10, systemClock) },
      queue: { queue, maxWaitMs: 500 },
    });
    assert.equal(admitRate(rl, "", at, metrics), true);
    assert.equal(await admitRate(rl, "", at, metrics), true);
  });
});

describe("rateLimitKeyOf", () => {
  it("reads the header, the source service, or nothing", () => {
    assert.equal(rateLimitKeyOf(undefined, { "x-api-key": "k" }, "web"), "");
    assert.equal(rateLimitKeyOf({ header: "x-api-key" }, { "x-api-key": "k" }, "web"), "k");
    assert.equal(rateLimitKeyOf({ header: "x-api-key" }, { "x-api-key": ["a", "b"] }, "web"), "a");
    assert.equal(rateLimitKeyOf({ header: "x-api-key" }, {}, "web"), "");
    assert.equal(rateLimitKeyOf({ sourceService: true }, {}, "web"), "web");
    assert.equal(rateLimitKeyOf({ sourceService: true }, {}, undefined), "");
  });
});

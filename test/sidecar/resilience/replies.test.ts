import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import { createRegistry } from "../../../src/common/metrics.ts";
import { Fallback, staticReply } from "../../../src/sidecar/resilience/fallback.ts";
import { ResilienceMetrics } from "../../../src/sidecar/resilience/metrics.ts";
import {
  circuitOpenReply,
  fallbackReply,
  overflowReply,
  rateLimitedReply,
} from "../../../src/sidecar/resilience/replies.ts";
import { StaleCache } from "../../../src/sidecar/resilience/stale-cache.ts";

const req = { method: "GET", url: "/r", headers: {} };

describe("resilience replies", () => {
  it("429 carries RL, Retry-After and the x-ratelimit headers", () => {
    const r = rateLimitedReply("ratings", { limit: 50, remaining: 0, resetSeconds: 1, retryAfterSeconds: 1 });
    assert.equal(r.status, 429);
    assert.deepEqual(
      [
        r.headers["x-meshlet-flags"],
        r.headers["retry-after"],
        r.headers["x-ratelimit-limit"],
        r.headers["x-ratelimit-remaining"],
        r.headers["x-ratelimit-reset"],
      ],
      ["RL", "1", "50", "0", "1"],
    );
    assert.deepEqual(JSON.parse(r.body.toString()), { error: "rate limited", service: "ratings", flag: "RL" });
  });

  it("open breaker and overflow answer 503 CB and 503 UO", () => {
    assert.equal(circuitOpenReply("a").headers["x-meshlet-flags"], "CB");
    const uo = overflowReply("a", "maxRequests");
    assert.equal(uo.status, 503);
    assert.equal(uo.headers["x-meshlet-flags"], "UO");
    assert.match(uo.body.toString(), /maxRequests/);
  });

  it("a fallback for the trigger answers with FB and is counted by trigger and kind", async () => {
    const registry = createRegistry({ processMetrics: false });
    const metrics = new ResilienceMetrics(registry);
    const fb = new Fallback(["circuitOpen", "rateLimited"], {
      kind: "static",
      reply: staticReply(200, undefined, "[]"),
    });
    const r = fallbackReply(fb, "CB", req, 0, metrics);
    assert.equal(r?.headers["x-meshlet-flags"], "CB,FB");
    assert.equal(r?.headers["x-meshlet-fallback"], "static");
    assert.equal(fallbackReply(fb, "UT", req, 0, metrics), undefined, "timeout is not a trigger of this policy");
    assert.equal(fallbackReply(undefined, "CB", req, 0, metrics), undefined);
    assert.match(
      await registry.getSingleMetricAsString("meshlet_fallback_responses_total"),
      /trigger="circuitOpen",kind="static"} 1/,
    );
  });

  it("a stale-cache miss falls through and is not counted", async () => {
    const registry = createRegistry({ processMetrics: false });
    const metrics = new ResilienceMetrics(registry);
    const cache = new StaleCache({ maxAgeMs: 1000, maxEntries: 1, maxBytes: 4096, vary: [] }, new FakeClock(1));
    const fb = new Fallback(["timeout"], { kind: "stale-cache", cache });
    assert.equal(fallbackReply(fb, "UT", req, 1, metrics), undefined);
    assert.doesNotMatch(await registry.getSingleMetricAsString("meshlet_fallback_responses_total"), /} 1/);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MAX_TIMER_MS, MIN_RATE_PER_SECOND } from "../../src/config/bounds.ts";
import { parseDuration } from "../../src/config/duration.ts";
import { policySchema, routeSchema, serviceSchema } from "../../src/config/resources.ts";

const policy = (spec: Record<string, unknown>) => ({
  apiVersion: "meshlet.dev/v1",
  kind: "Policy",
  metadata: { name: "p" },
  spec: { target: { service: "ratings" }, ...spec },
});
const route = (http: Record<string, unknown>) => ({
  apiVersion: "meshlet.dev/v1",
  kind: "Route",
  metadata: { name: "r" },
  spec: { hosts: ["reviews"], http: [{ destinations: [{ service: "reviews" }], ...http }] },
});

/** The first issue's path and message, or "ok". */
function verdict(schema: typeof policySchema | typeof routeSchema, value: unknown): string {
  const r = schema.safeParse(value);
  if (r.success) return "ok";
  const i = r.error.issues[0];
  return `${i?.path.join(".")}: ${i?.message}`;
}

describe("schema bounds on durations, rates and sizes", () => {
  const table: [string, typeof policySchema | typeof routeSchema, unknown, RegExp | "ok"][] = [
    ["a route timeout of 24h", routeSchema, route({ timeout: "24h" }), "ok"],
    ["a route timeout of 24h and 1 ms", routeSchema, route({ timeout: "86400001ms" }), /at most 24h/],
    ["a route timeout of 99999999999999h", routeSchema, route({ timeout: "99999999999999h" }), /at most 24h/],
    [
      "a per-try timeout of 25h",
      routeSchema,
      route({ timeout: "1s", retries: { attempts: 1, perTryTimeout: "25h" } }),
      /perTryTimeout: .*at most 24h/,
    ],
    [
      "a retry backoff of 1441m",
      routeSchema,
      route({ retries: { attempts: 1, backoff: { baseInterval: "1441m" } } }),
      /at most 24h/,
    ],
    [
      "resetTimeout: 99999999999999h",
      policySchema,
      policy({ circuitBreaker: { errorThresholdPercentage: 50, resetTimeout: "99999999999999h" } }),
      /resetTimeout: .*at most 24h/,
    ],
    [
      "a rolling window of 24h",
      policySchema,
      policy({ circuitBreaker: { errorThresholdPercentage: 50, rollingWindow: "24h" } }),
      "ok",
    ],
    [
      "an outlier ejection of 30h",
      policySchema,
      policy({ outlierDetection: { baseEjectionTime: "30h" } }),
      /at most 24h/,
    ],
    [
      "a health check interval of 48h",
      policySchema,
      policy({ healthCheck: { path: "/h", interval: "48h" } }),
      /at most 24h/,
    ],
    [
      "a stale cache age of 2000m",
      policySchema,
      policy({ fallback: { on: ["timeout"], staleCache: { maxAge: "2000m" } } }),
      /at most 24h/,
    ],
    [
      "a queue wait of 90000s",
      policySchema,
      policy({ rateLimit: { requestsPerSecond: 1, maxWait: "90000s" } }),
      /at most 24h/,
    ],
    [
      "requestsPerSecond: 1e-300",
      policySchema,
      policy({ rateLimit: { requestsPerSecond: 1e-300 } }),
      /at least 0\.001/,
    ],
    ["requestsPerSecond: 0", policySchema, policy({ rateLimit: { requestsPerSecond: 0 } }), /at least 0\.001/],
    ["requestsPerSecond: -1", policySchema, policy({ rateLimit: { requestsPerSecond: -1 } }), /at least 0\.001/],
    [
      "requestsPerSecond at the minimum",
      policySchema,
      policy({ rateLimit: { requestsPerSecond: MIN_RATE_PER_SECOND } }),
      "ok",
    ],
    [
      "requestsPerSecond: Infinity",
      policySchema,
      policy({ rateLimit: { requestsPerSecond: Number.POSITIVE_INFINITY } }),
      /requestsPerSecond/,
    ],
    [
      "requestsPerSecond: NaN",
      policySchema,
      policy({ rateLimit: { requestsPerSecond: Number.NaN } }),
      /requestsPerSecond/,
    ],
    ["requestsPerSecond: 1e7", policySchema, policy({ rateLimit: { requestsPerSecond: 1e7 } }), "ok"],
    ["requestsPerSecond: 1e10", policySchema, policy({ rateLimit: { requestsPerSecond: 1e10 } }), /at most 1000000000/],
    ["burst: 1e300", policySchema, policy({ rateLimit: { requestsPerSecond: 1, burst: 1e300 } }), /burst: /],
    [
      "maxKeys: 1e12",
      policySchema,
      policy({ rateLimit: { requestsPerSecond: 1, key: { header: "x" }, maxKeys: 1e12 } }),
      /maxKeys: expected at most 1000000/,
    ],
    [
      "maxKeys at the limit",
      policySchema,
      policy({ rateLimit: { requestsPerSecond: 1, key: { header: "x" }, maxKeys: 1e6 } }),
      "ok",
    ],
    [
      "queueSize: 1e9",
      policySchema,
      policy({ rateLimit: { requestsPerSecond: 1, queueSize: 1e9 } }),
      /at most 1000000/,
    ],
    [
      "stale cache maxEntries: 1e9",
      policySchema,
      policy({ fallback: { on: ["timeout"], staleCache: { maxAge: "1m", maxEntries: 1e9 } } }),
      /at most 1000000/,
    ],
    [
      "stale cache maxBytes: 1e12",
      policySchema,
      policy({ fallback: { on: ["timeout"], staleCache: { maxAge: "1m", maxBytes: 1e12 } } }),
      /at most 1073741824/,
    ],
    ["maxConnections: 1e15", policySchema, policy({ limits: { maxConnections: 1e15 } }), /at most 1000000000/],
  ];
  for (const [name, schema, value, expected] of table) {
    it(name, () => {
      const got = verdict(schema, value);
      if (expected === "ok") assert.equal(got, "ok");
      else assert.match(got, expected);
    });
  }

  it("a cookie's lifetime may be up to a year (it is not a timer)", () => {
    const withCookie = (ttl: string) => ({
      apiVersion: "meshlet.dev/v1",
      kind: "Service",
      metadata: { name: "s" },
      spec: { loadBalancer: { consistentHash: { cookie: { name: "c", ttl } } } },
    });
    assert.equal(serviceSchema.safeParse(withCookie("8760h")).success, true);
    assert.match(JSON.stringify(serviceSchema.safeParse(withCookie("8761h")).error?.issues), /at most 8760h/);
  });

  it("any duration is accepted exactly when it is > 0 and at most 24h (property)", () => {
    const unit = fc.constantFrom("ms", "s", "m", "h");
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200_000_000 }), unit, (n, u) => {
        const text = `${n}${u}`;
        const ms = parseDuration(text) ?? Number.NaN;
        const ok = routeSchema.safeParse(route({ timeout: text })).success;
        assert.equal(ok, ms > 0 && ms <= MAX_TIMER_MS, `${text} = ${ms} ms`);
      }),
      { numRuns: 500 },
    );
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConcurrencyLimits } from "../../../src/sidecar/resilience/concurrency.ts";

describe("ConcurrencyLimits", () => {
  it("refuses beyond maxRequests and admits again after a release", () => {
    const c = new ConcurrencyLimits({ maxRequests: 2 });
    assert.equal(c.acquire(), undefined);
    assert.equal(c.acquire(), undefined);
    assert.equal(c.acquire(), "maxRequests");
    c.release();
    assert.equal(c.acquire(), undefined);
    assert.equal(c.active, 2);
  });

  it("bounds pending requests beyond the connection limit", () => {
    const c = new ConcurrencyLimits({ maxConnections: 2, maxPendingRequests: 1 });
    for (let i = 0; i < 3; i++) assert.equal(c.acquire(), undefined);
    assert.equal(c.acquire(), "maxPendingRequests");
  });

  it("names maxRequests when it is the tighter limit", () => {
    const c = new ConcurrencyLimits({ maxConnections: 5, maxPendingRequests: 5, maxRequests: 1 });
    c.acquire();
    assert.equal(c.acquire(), "maxRequests");
  });

  it("bounds concurrent retries separately", () => {
    const c = new ConcurrencyLimits({ maxRetries: 1 });
    assert.equal(c.acquireRetry(), true);
    assert.equal(c.acquireRetry(), false);
    c.releaseRetry();
    assert.equal(c.acquireRetry(), true);
    assert.equal(c.acquire(), undefined, "no request limit set");
  });

  it("never goes below zero on unbalanced releases", () => {
    const c = new ConcurrencyLimits({ maxRequests: 1 });
    c.release();
    c.releaseRetry();
    assert.equal(c.active, 0);
    assert.equal(c.acquire(), undefined);
    assert.equal(c.acquire(), "maxRequests");
  });
});

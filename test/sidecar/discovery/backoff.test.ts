import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffDelay } from "../../../src/sidecar/discovery/backoff.ts";

describe("backoffDelay", () => {
  const limits = { baseMs: 100, maxMs: 5_000 };

  it("doubles the ceiling per attempt up to the maximum", () => {
    const ceiling = (attempt: number) => backoffDelay(attempt, limits, () => 0.999_999);
    assert.ok(Math.abs(ceiling(0) - 100) < 0.01);
    assert.ok(Math.abs(ceiling(3) - 800) < 0.01);
    assert.ok(Math.abs(ceiling(10) - 5_000) < 0.01);
    assert.ok(Math.abs(ceiling(1_000) - 5_000) < 0.01);
  });

  it("is fully jittered: the random source scales the whole delay", () => {
    assert.equal(
      backoffDelay(3, limits, () => 0),
      0,
    );
    assert.equal(
      backoffDelay(3, limits, () => 0.5),
      400,
    );
  });
});

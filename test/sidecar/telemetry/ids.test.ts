import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { randomIds } from "../../../src/sidecar/telemetry/ids.ts";

describe("randomIds", () => {
  it("makes well-formed trace and span ids, a new one each time, across refills of the random pool", () => {
    const ids = randomIds();
    const seen = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const t = ids.traceId();
      const s = ids.spanId();
      assert.match(t, /^[0-9a-f]{32}$/);
      assert.match(s, /^[0-9a-f]{16}$/);
      seen.add(t);
      seen.add(s);
    }
    assert.equal(seen.size, 1200);
  });

  it("makes random version 4 UUIDs as request ids, unique across refills, their variant digit uniform", () => {
    const ids = randomIds();
    const seen = new Set<string>();
    const variants = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const id = ids.requestId();
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      seen.add(id);
      const v = id[19] as string;
      variants.set(v, (variants.get(v) ?? 0) + 1);
    }
    assert.equal(seen.size, 4000);
    // 1,000 each expected; the standard deviation is about 27.
    for (const v of "89ab")
      assert.ok(Math.abs((variants.get(v) ?? 0) - 1000) < 150, `variant ${v}: ${variants.get(v)}`);
  });
});

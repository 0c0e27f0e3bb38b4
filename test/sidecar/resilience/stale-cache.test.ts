import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import { StaleCache } from "../../../src/sidecar/resilience/stale-cache.ts";

function cache(clock: FakeClock, over: Partial<ConstructorParameters<typeof StaleCache>[0]> = {}) {
  return new StaleCache({ maxAgeMs: 10_000, maxEntries: 100, maxBytes: 1 << 20, vary: [], ...over }, clock);
}

function put(c: StaleCache, key: string, body: string, status = 200) {
  const r = c.record(key, status, { "content-type": "text/plain", "content-length": body.length, connection: "close" });
  r.write(body);
  r.end();
}

describe("StaleCache", () => {
  it("keys only GET and HEAD, with the vary headers", () => {
    const c = cache(new FakeClock(), { vary: ["accept-language"] });
    assert.equal(c.keyFor("POST", "/a", {}), undefined);
    const en = c.keyFor("GET", "/a", { "accept-language": "en" });
    const de = c.keyFor("GET", "/a", { "accept-language": "de" });
    assert.notEqual(en, de);
    assert.notEqual(c.keyFor("HEAD", "/a", { "accept-language": "en" }), undefined);
  });

  it("serves the last completed 2xx response until maxAge, without per-connection headers", () => {
    const clock = new FakeClock();
    const c = cache(clock);
    put(c, "GET /a", "first");
    put(c, "GET /a", "second");
    put(c, "GET /a", "error", 500);
    const hit = c.lookup("GET /a");
    assert.equal(hit?.body.toString(), "second");
    assert.deepEqual(hit?.headers, { "content-type": "text/plain" });
    clock.advance(10_001);
    assert.equal(c.lookup("GET /a"), undefined);
  });

  it("drops an aborted or oversized recording", () => {
    const c = cache(new FakeClock(), { maxBytes: 2048 });
    const aborted = c.record("GET /x", 200, {});
    aborted.write("partial");
    aborted.abort();
    aborted.end();
    assert.equal(c.lookup("GET /x"), undefined);
    const big = c.record("GET /big", 200, {});
    big.write(Buffer.alloc(4096));
    big.end();
    assert.equal(c.lookup("GET /big"), undefined);
  });

  it("stays within maxEntries and maxBytes, evicting the least recently used", () => {
    const c = cache(new FakeClock(), { maxEntries: 3, maxBytes: 4096 });
    for (let i = 0; i < 5; i++) put(c, `GET /${i}`, "x");
    assert.equal(c.size, 3);
    assert.equal(c.lookup("GET /0"), undefined);
    const bytes = cache(new FakeClock(), { maxEntries: 100, maxBytes: 4096 });
    for (let i = 0; i < 10; i++) put(bytes, `GET /${i}`, "y".repeat(1000));
    assert.ok(bytes.bytes <= 4096, `bytes ${bytes.bytes}`);
    assert.ok(bytes.size <= 3);
    assert.notEqual(bytes.lookup("GET /9"), undefined);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import { FALLBACK_HEADER, Fallback, staticReply } from "../../../src/sidecar/resilience/fallback.ts";
import { StaleCache } from "../../../src/sidecar/resilience/stale-cache.ts";

describe("Fallback", () => {
  it("answers the listed triggers with a static reply marked static", () => {
    const f = new Fallback(["circuitOpen"], { kind: "static", reply: staticReply(200, { "X-Why": "cb" }, '{"r":[]}') });
    assert.equal(f.handles("circuitOpen"), true);
    assert.equal(f.handles("rateLimited"), false);
    const r = f.reply("GET", "/", {}, 0);
    assert.equal(r?.status, 200);
    assert.equal(r?.body.toString(), '{"r":[]}');
    assert.deepEqual(r?.headers, { "x-why": "cb", "content-type": "application/json", [FALLBACK_HEADER]: "static" });
  });

  it("keeps a configured content type and labels text bodies as text", () => {
    assert.equal(staticReply(503, { "content-type": "text/html" }, "<p>").headers["content-type"], "text/html");
    assert.equal(staticReply(503, undefined, "{not json").headers["content-type"], "text/plain");
  });

  it("serves a stale-cache hit with its age and header, and nothing on a miss", () => {
    const clock = new FakeClock(1_000);
    const cache = new StaleCache({ maxAgeMs: 60_000, maxEntries: 10, maxBytes: 1 << 20, vary: [] }, clock);
    const rec = cache.record("GET /list", 200, { "content-type": "application/json" });
    rec.write('{"cached":true}');
    rec.end();
    clock.advance(5_000);
    const f = new Fallback(["timeout"], { kind: "stale-cache", cache });
    const hit = f.reply("GET", "/list", {}, clock.now());
    assert.equal(hit?.body.toString(), '{"cached":true}');
    assert.equal(hit?.headers[FALLBACK_HEADER], "stale-cache");
    assert.equal(hit?.headers.age, "5");
    assert.equal(f.reply("GET", "/other", {}, clock.now()), undefined);
    assert.equal(f.reply("HEAD", "/list", {}, clock.now()), undefined, "HEAD has its own entry");
  });

  it("leaves a service fallback to the router", () => {
    const f = new Fallback(["noHealthyUpstream"], { kind: "service", service: "ratings-replica" });
    assert.equal(f.reply("GET", "/", {}, 0), undefined);
  });
});

import assert from "node:assert/strict";
import { request } from "node:http";
import { describe, it } from "node:test";
import { startFaultUpstream } from "./fault-upstream.ts";

function get(port: number, path: string, timeoutMs = 2000): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve(e.message.includes("timeout") ? "timeout" : "reset"));
    req.end();
  });
}

describe("fault-injecting upstream", () => {
  it("returns errors at the set rate, resets, and hangs on demand", async (t) => {
    const up = await startFaultUpstream("ratings");
    t.after(() => up.close());
    up.set({ errorRate: 0.25, errorStatus: 500 });
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push(await get(up.port, "/r"));
    assert.equal(statuses.filter((s) => s === 500).length, 2);
    assert.equal(statuses.filter((s) => s === 200).length, 6);
    up.set({ errorRate: 0, reset: true });
    assert.equal(await get(up.port, "/r"), "reset");
    up.set({ reset: false, hang: true });
    assert.equal(await get(up.port, "/r", 200), "timeout");
    up.set({ hang: false, latencyMs: 50 });
    const t0 = performance.now();
    assert.equal(await get(up.port, "/slow"), 200);
    assert.ok(performance.now() - t0 >= 45);
    assert.equal(up.hits.get("/r"), 10);
  });
});

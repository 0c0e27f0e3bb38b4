import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { systemClock } from "../../../src/common/clock.ts";
import { silentLogger } from "../../../src/common/logger.ts";
import { GlobalReservoir } from "../../../src/sidecar/resilience/global-reservoir.ts";
import { freePort, type RedisServer, startRedis } from "./redis-server.ts";

/**
 * Three reservoirs in one process stand for three sidecars: each has its own
 * Redis connections and leases on its own, exactly as in separate processes.
 */
function sidecars(id: string, port: number, n: number, rate: number, flips: boolean[][] = []): GlobalReservoir[] {
  for (let i = 0; i < n; i++) flips[i] = [];
  return Array.from(
    { length: n },
    (_, i) =>
      new GlobalReservoir({
        id,
        redis: { host: "127.0.0.1", port },
        ratePerSecond: rate,
        capacity: Math.ceil(rate / 10),
        clock: systemClock,
        logger: silentLogger(),
        onDegradedChange: (d) => flips[i]?.push(d),
      }),
  );
}

/** Offers `perSecond` requests per second to each reservoir for `ms`; returns admitted counts and the slowest check. */
async function offer(rs: GlobalReservoir[], perSecond: number, ms: number) {
  const admitted = rs.map(() => 0);
  let slowest = 0;
  const every = 1000 / perSecond;
  const start = performance.now();
  let due = start;
  while (performance.now() - start < ms) {
    due += every;
    rs.forEach((r, i) => {
      const t0 = performance.now();
      if (r.tryTake()) admitted[i] = (admitted[i] ?? 0) + 1;
      slowest = Math.max(slowest, performance.now() - t0);
    });
    const wait = due - performance.now();
    await sleep(wait > 0 ? wait : 0);
  }
  return { admitted, total: admitted.reduce((a, b) => a + b, 0), seconds: (performance.now() - start) / 1000, slowest };
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (cond()) return true;
    await sleep(20);
  }
  return cond();
}

describe("GlobalReservoir with a real redis-server", () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  it("a global 60 req/s across 3 sidecars admits 60 ± 10 % in total under 600 req/s offered", async (t) => {
    const rs = sidecars("accuracy", redis.port, 3, 60);
    t.after(() => Promise.all(rs.map((r) => r.stop())));
    await until(() => rs.every((r) => r.instances === 3), 5000);
    await offer(rs, 200, 1000);
    const { total, seconds, admitted } = await offer(rs, 200, 5000);
    const rate = total / seconds;
    assert.ok(
      rate >= 54 && rate <= 66,
      `admitted ${rate.toFixed(1)}/s (${admitted.join(" + ")} in ${seconds.toFixed(1)} s)`,
    );
    assert.ok(
      admitted.every((n) => n > 0),
      `every sidecar got a share: ${admitted.join(", ")}`,
    );
  });

  it("falls back to limit ÷ instances when Redis dies, without blocking, and recovers when it returns", async (t) => {
    const flips: boolean[][] = [];
    const rs = sidecars("failover", redis.port, 3, 60, flips);
    t.after(() => Promise.all(rs.map((r) => r.stop())));
    assert.ok(await until(() => rs.every((r) => r.instances === 3), 5000), "instances seen in Redis");
    await offer(rs, 100, 500);
    const port = redis.port;
    await redis.stop();
    assert.ok(await until(() => rs.every((r) => r.degraded), 3000), "every sidecar noticed");
    const down = await offer(rs, 100, 2000);
    const perSidecar = down.admitted.map((n) => n / down.seconds);
    for (const r of perSidecar)
      assert.ok(r >= 14 && r <= 26, `local share ${perSidecar.map((x) => x.toFixed(1))}/s ≈ 60 ÷ 3`);
    assert.ok(down.slowest < 20, `slowest admission check ${down.slowest.toFixed(3)} ms`);
    redis = await startRedis(port);
    assert.ok(await until(() => rs.every((r) => !r.degraded), 5000), "recovered when Redis returned");
    const back = await offer(rs, 200, 2000);
    assert.ok(back.total > 0, "leasing resumed");
    // Per sidecar: a loaded machine may time out a lease before Redis stops (degraded, then back), so only each
    // sidecar's own sequence is checked: it alternates, starts by falling back, and ends recovered.
    for (const own of flips) {
      assert.ok(
        own.length >= 2 && own.every((d, k) => d === (k % 2 === 0)) && own.at(-1) === false,
        `a sidecar's changes: ${own.join(", ")}`,
      );
    }
  });

  it("a Redis that stops answering never stalls the admission check", async (t) => {
    const rs = sidecars("slow", redis.port, 1, 50);
    t.after(async () => {
      redis.resume();
      await Promise.all(rs.map((r) => r.stop()));
    });
    const [r] = rs;
    assert.ok(r);
    await offer(rs, 100, 500);
    redis.pause();
    const paused = await offer(rs, 100, 1500);
    assert.equal(r.degraded, true, "a probe past its deadline counts as unavailable");
    assert.ok(paused.slowest < 20, `slowest admission check ${paused.slowest.toFixed(3)} ms`);
    assert.ok(paused.total > 0, "the local share keeps admitting");
    redis.resume();
    assert.ok(await until(() => !r.degraded, 5000), "recovered");
  });

  it("starts on the local share when Redis is unreachable at boot, leases once it comes up, and stops promptly", async (t) => {
    const port = await freePort();
    const rs = sidecars("boot", port, 1, 40);
    const [r] = rs;
    assert.ok(r);
    let late: RedisServer | undefined;
    t.after(async () => {
      await r.stop();
      await late?.stop();
    });
    assert.ok(await until(() => r.degraded, 3000), "noticed");
    const alone = await offer(rs, 200, 1000);
    assert.ok(
      alone.total / alone.seconds >= 30 && alone.total / alone.seconds <= 50,
      `admitted ${alone.total}/s alone`,
    );
    late = await startRedis(port);
    assert.ok(await until(() => !r.degraded, 5000), "recovered when Redis came up");
    await offer(rs, 200, 500);
    const leased = await offer(rs, 200, 2000);
    const rate = leased.total / leased.seconds;
    assert.ok(rate >= 34 && rate <= 46, `admitted ${rate.toFixed(1)}/s from Redis`);
    const t0 = performance.now();
    await r.stop();
    assert.ok(performance.now() - t0 < 5000, "stop is bounded");
  });
});

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FakeClock } from "../../src/common/clock.ts";
import type { CompiledSnapshot } from "../../src/sidecar/snapshot.ts";
import type { UpstreamEndpoint } from "../../src/sidecar/upstream/balancer.ts";
import { type WarmUpOptions, type WarmUpResult, warmTargets, warmUp } from "../../src/sidecar/warm-up.ts";

const ep = (port: number): UpstreamEndpoint => ({
  key: `10.0.0.1:${port}`,
  address: "10.0.0.1",
  port,
  weight: 1,
  labels: {},
  active: 0,
});

/** Only what warm-up reads of a snapshot: hosts → routes → destinations → endpoints. */
function snapshot(routes: Record<string, { h2?: boolean; endpoints: UpstreamEndpoint[] }[][]>): CompiledSnapshot {
  const byHost = new Map(
    Object.entries(routes).map(([host, rs]) => [
      host,
      rs.map((ds) => ({ destinations: ds.map((d) => ({ h2: d.h2, balancer: { endpoints: d.endpoints } })) })),
    ]),
  );
  return { routesByHost: byHost } as unknown as CompiledSnapshot;
}

/** Runs a warm-up on a fake clock, advancing it in 10 ms steps until it settles (or 10 s). */
async function run(clock: FakeClock, o: Partial<WarmUpOptions>, tick?: (now: number) => void): Promise<WarmUpResult> {
  let settled: WarmUpResult | undefined;
  void warmUp({
    clock,
    capMs: 2_000,
    maxEndpoints: 64,
    pollMs: 10,
    snapshot: () => undefined,
    identityReady: () => true,
    connect: async () => true,
    ...o,
  }).then((r) => {
    settled = r;
  });
  for (let i = 0; i < 1_000 && settled === undefined; i++) {
    await new Promise((r) => setImmediate(r));
    if (settled !== undefined) break;
    clock.advance(10);
    tick?.(clock.now());
  }
  assert.ok(settled, "warm-up settled");
  return settled;
}

describe("warm-up before ready", () => {
  test("targets: every HTTP/1.1 endpoint the routes reach, once each, at most max; HTTP/2 left out", () => {
    const snap = snapshot({
      reviews: [[{ endpoints: [ep(1), ep(2)] }], [{ endpoints: [ep(2), ep(3)] }]],
      grpc: [[{ h2: true, endpoints: [ep(9)] }]],
      ratings: [[{ endpoints: [ep(4)] }, { endpoints: [ep(5)] }]],
    });
    assert.deepEqual(
      warmTargets(snap, 64).map((e) => e.port),
      [1, 2, 3, 4, 5],
    );
    assert.deepEqual(
      warmTargets(snap, 2).map((e) => e.port),
      [1, 2],
    );
  });

  test("waits for the config and the certificate, then connects to each endpoint", async () => {
    const clock = new FakeClock();
    const snap = snapshot({ reviews: [[{ endpoints: [ep(1), ep(2)] }]] });
    let config: CompiledSnapshot | undefined;
    let identity = false;
    const connectedAt: number[] = [];
    const r = await run(
      clock,
      {
        snapshot: () => config,
        identityReady: () => identity,
        connect: async () => {
          connectedAt.push(clock.now());
          return true;
        },
      },
      (now) => {
        if (now >= 100) config = snap;
        if (now >= 300) identity = true;
      },
    );
    assert.equal(r.complete, true);
    assert.deepEqual({ endpoints: r.endpoints, warmed: r.warmed }, { endpoints: 2, warmed: 2 });
    assert.equal(connectedAt.length, 2);
    for (const at of connectedAt) assert.ok(at >= 300, `connected at ${at} ms, before the certificate (300 ms)`);
  });

  test("a certificate that never comes: ready anyway at the cap, saying what was missing", async () => {
    const clock = new FakeClock();
    const snap = snapshot({ reviews: [[{ endpoints: [ep(1)] }]] });
    let connects = 0;
    const r = await run(clock, {
      snapshot: () => snap,
      identityReady: () => false,
      connect: async () => {
        connects++;
        return true;
      },
    });
    assert.equal(r.complete, false);
    assert.equal(r.missing, "certificate");
    assert.ok(r.tookMs >= 2_000 && r.tookMs <= 2_020, `capped at ${r.tookMs} ms`);
    assert.equal(connects, 0, "no plain connection opened to a peer before the identity");
  });

  test("no config at all: capped, missing config", async () => {
    const r = await run(new FakeClock(), {});
    assert.deepEqual({ complete: r.complete, missing: r.missing }, { complete: false, missing: "config" });
  });

  test("connections that hang: capped; failed ones are ignored", async () => {
    const clock = new FakeClock();
    const snap = snapshot({ reviews: [[{ endpoints: [ep(1), ep(2), ep(3)] }]] });
    const r = await run(clock, {
      snapshot: () => snap,
      connect: (e) =>
        e.port === 1
          ? Promise.resolve(true)
          : e.port === 2
            ? Promise.reject(new Error("refused"))
            : new Promise(() => {}),
    });
    assert.deepEqual(
      { complete: r.complete, missing: r.missing, endpoints: r.endpoints, warmed: r.warmed },
      { complete: false, missing: "connections", endpoints: 3, warmed: 1 },
    );
    assert.ok(r.tookMs <= 2_020, `capped at ${r.tookMs} ms`);
    const fine = await run(new FakeClock(), {
      snapshot: () => snap,
      connect: (e) => (e.port === 2 ? Promise.resolve(false) : Promise.resolve(true)),
    });
    assert.deepEqual({ complete: fine.complete, warmed: fine.warmed }, { complete: true, warmed: 2 });
  });
});

import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import {
  type AttemptOutcome,
  BREAKER_CLOSED,
  BREAKER_HALF_OPEN,
  BREAKER_OPEN,
  Breaker,
  CIRCUIT_OPEN,
  defaultFailureStatuses,
} from "../../../src/sidecar/resilience/breaker.ts";

function newBreaker(
  t: TestContext,
  overrides: Partial<ConstructorParameters<typeof Breaker>[1]> = {},
): { b: Breaker; clock: FakeClock } {
  const clock = new FakeClock(1_000);
  const b = new Breaker(
    "service/ratings",
    {
      errorThresholdPercentage: 50,
      volumeThreshold: 4,
      rollingWindowMs: 10_000,
      resetTimeoutMs: 5_000,
      failureStatuses: defaultFailureStatuses(),
      ...overrides,
    },
    clock,
  );
  t.after(() => b.shutdown());
  return { b, clock };
}

const answer = (o: AttemptOutcome) => () => Promise.resolve(o);

describe("Breaker", () => {
  it("counts 5xx except 501 and gateway errors as failures, 4xx and 501 as successes", () => {
    const s = defaultFailureStatuses();
    assert.equal(s.has(500), true);
    assert.equal(s.has(503), true);
    assert.equal(s.has(599), true);
    assert.equal(s.has(501), false);
    assert.equal(s.has(404), false);
  });

  it("stays closed below the volume threshold even at 100 % errors", async (t) => {
    const { b } = newBreaker(t);
    for (let i = 0; i < 3; i++) assert.deepEqual(await b.run(answer({ status: 500 })), { status: 500 });
    assert.equal(b.state, BREAKER_CLOSED);
  });

  it("opens when the error rate crosses the threshold, then refuses without calling upstream", async (t) => {
    const { b } = newBreaker(t);
    const states: number[] = [];
    b.onStateChange((s) => states.push(s));
    await b.run(answer({ status: 200 }));
    await b.run(answer({ status: 404 }));
    await b.run(answer({ error: "connect" }));
    await b.run(answer({ status: 502 }));
    assert.equal(b.state, BREAKER_CLOSED, "2 of 4 = 50 % does not exceed 50 %");
    await b.run(answer({ error: "timeout" }));
    assert.equal(b.state, BREAKER_OPEN);
    let called = false;
    const r = await b.run(() => {
      called = true;
      return Promise.resolve({ status: 200 });
    });
    assert.equal(r, CIRCUIT_OPEN);
    assert.equal(called, false);
    assert.deepEqual(states, [BREAKER_OPEN]);
  });

  it("half-opens after resetTimeout, admits one probe, and closes when it succeeds", async (t) => {
    const { b, clock } = newBreaker(t, { volumeThreshold: 1 });
    await b.run(answer({ error: "reset" }));
    assert.equal(b.state, BREAKER_OPEN);
    clock.advance(4_999);
    assert.equal(b.state, BREAKER_OPEN);
    clock.advance(1);
    assert.equal(b.state, BREAKER_HALF_OPEN);
    let release: (o: AttemptOutcome) => void = () => {};
    const probe = b.run(() => new Promise<AttemptOutcome>((r) => (release = r)));
    assert.equal(await b.run(answer({ status: 200 })), CIRCUIT_OPEN, "only one probe at a time");
    release({ status: 200 });
    assert.deepEqual(await probe, { status: 200 });
    assert.equal(b.state, BREAKER_CLOSED);
  });

  it("reopens when the half-open probe fails", async (t) => {
    const { b, clock } = newBreaker(t, { volumeThreshold: 1 });
    await b.run(answer({ status: 503 }));
    clock.advance(5_000);
    assert.equal(b.state, BREAKER_HALF_OPEN);
    await b.run(answer({ status: 500 }));
    assert.equal(b.state, BREAKER_OPEN);
  });

  it("forgets failures that leave the rolling window", async (t) => {
    const { b, clock } = newBreaker(t, { volumeThreshold: 3, rollingWindowMs: 1_000 });
    await b.run(answer({ status: 500 }));
    await b.run(answer({ status: 500 }));
    clock.advance(1_100);
    await b.run(answer({ status: 500 }));
    assert.equal(b.state, BREAKER_CLOSED, "only one failure is left in the window");
  });

  it("uses a configured failure status list", async (t) => {
    const { b } = newBreaker(t, {
      volumeThreshold: 1,
      errorThresholdPercentage: 10,
      failureStatuses: new Set([429]),
    });
    await b.run(answer({ status: 500 }));
    assert.equal(b.state, BREAKER_CLOSED);
    await b.run(answer({ status: 429 }));
    assert.equal(b.state, BREAKER_OPEN);
  });

  it("passes an attempt's own exception through and counts it", async (t) => {
    const { b } = newBreaker(t, { volumeThreshold: 1 });
    await assert.rejects(
      b.run(() => Promise.reject(new Error("boom"))),
      /boom/,
    );
    assert.equal(b.state, BREAKER_OPEN);
  });

  it("lets a request through unguarded once its breaker was replaced by a new snapshot", async (t) => {
    const { b } = newBreaker(t);
    b.shutdown();
    assert.deepEqual(await b.run(answer({ status: 500 })), { status: 500 });
  });

  it("closing starts a fresh window: failures from before the outage do not reopen it", async (t) => {
    const { b, clock } = newBreaker(t, { volumeThreshold: 4 });
    for (const status of [200, 500, 500, 500]) await b.run(answer({ status }));
    assert.equal(b.state, BREAKER_OPEN);
    clock.advance(5_000);
    await b.run(answer({ status: 200 }));
    assert.equal(b.state, BREAKER_CLOSED);
    await b.run(answer({ status: 500 }));
    assert.equal(b.state, BREAKER_CLOSED, "1 attempt in the fresh window is below the volume threshold");
  });

  it("does not count refused attempts, and only the probe's result closes a half-open breaker", async (t) => {
    const { b, clock } = newBreaker(t, { volumeThreshold: 2 });
    let release: (o: AttemptOutcome) => void = () => {};
    const late = b.run(() => new Promise<AttemptOutcome>((r) => (release = r)));
    await b.run(answer({ status: 500 }));
    await b.run(answer({ status: 500 }));
    assert.equal(b.state, BREAKER_OPEN);
    for (let i = 0; i < 100; i++) assert.equal(await b.run(answer({ status: 200 })), CIRCUIT_OPEN);
    clock.advance(5_000);
    assert.equal(b.state, BREAKER_HALF_OPEN);
    release({ status: 200 });
    await late;
    assert.equal(b.state, BREAKER_HALF_OPEN, "an attempt from before the outage is not the probe");
    await b.run(answer({ status: 200 }));
    assert.equal(b.state, BREAKER_CLOSED);
  });

  it("keeps no timer after shutdown", async (t) => {
    const { b, clock } = newBreaker(t, { volumeThreshold: 1 });
    await b.run(answer({ status: 500 }));
    assert.equal(clock.pendingTimers(), 1);
    b.shutdown();
    assert.equal(clock.pendingTimers(), 0);
  });
});

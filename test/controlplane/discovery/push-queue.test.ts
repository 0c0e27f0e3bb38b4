import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import { PushQueue } from "../../../src/controlplane/discovery/push-queue.ts";

function setup(batch: number) {
  const clock = new FakeClock();
  const deferred: (() => void)[] = [];
  const queue = new PushQueue({ clock, debounceMs: 50, batch, defer: (fn) => deferred.push(fn) });
  const flushed: number[] = [];
  const sessions = Array.from({ length: 150 }, (_, i) => ({ flush: () => flushed.push(i) }));
  return { clock, deferred, queue, flushed, sessions };
}

describe("PushQueue", () => {
  it("waits one debounce window, then pushes in batches, yielding between them", () => {
    const h = setup(64);
    for (const s of h.sessions) h.queue.schedule(s);
    for (const s of h.sessions) h.queue.schedule(s);
    h.clock.advance(49);
    assert.equal(h.flushed.length, 0);
    h.clock.advance(1);
    assert.equal(h.flushed.length, 64);
    h.deferred.shift()?.();
    assert.equal(h.flushed.length, 128);
    h.deferred.shift()?.();
    assert.deepEqual(
      h.flushed,
      h.sessions.map((_, i) => i),
      "each session once, in order",
    );
    assert.equal(h.deferred.length, 0);
    assert.equal(h.clock.pendingTimers(), 0);
  });

  it("a session changed again while a round drains is pushed again in that round; a removed one is not", () => {
    const h = setup(64);
    for (const s of h.sessions) h.queue.schedule(s);
    h.clock.advance(50);
    h.queue.schedule(h.sessions[0] as { flush: () => void });
    h.queue.remove(h.sessions[100] as { flush: () => void });
    while (h.deferred.length > 0) h.deferred.shift()?.();
    assert.equal(h.flushed.length, 150);
    assert.equal(h.flushed.filter((i) => i === 0).length, 2);
    assert.ok(!h.flushed.includes(100));
    assert.equal(h.clock.pendingTimers(), 0, "no second window: the running round took the change");
  });

  it("close drops what waits", () => {
    const h = setup(64);
    h.queue.schedule(h.sessions[0] as { flush: () => void });
    h.queue.close();
    h.clock.advance(100);
    assert.equal(h.flushed.length, 0);
  });
});

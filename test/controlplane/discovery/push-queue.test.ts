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
  const runDeferred = () => {
    while (deferred.length > 0) deferred.shift()?.();
  };
  return { clock, deferred, queue, flushed, sessions, runDeferred };
}

describe("PushQueue", () => {
  it("pushes a change after a quiet window at once, in batches, yielding between them", () => {
    const h = setup(64);
    for (const s of h.sessions) h.queue.schedule(s);
    for (const s of h.sessions) h.queue.schedule(s);
    assert.equal(h.flushed.length, 0, "not inside schedule: changes applied together share the round");
    assert.equal(h.deferred.length, 1, "one round for all of them");
    assert.equal(h.clock.pendingTimers(), 0, "no waiting for a window");
    h.deferred.shift()?.();
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
  });

  it("holds changes made within a window of the last round until the window ends, then pushes them once", () => {
    const h = setup(64);
    const [a, b] = h.sessions;
    assert.ok(a !== undefined && b !== undefined);
    h.queue.schedule(a);
    h.runDeferred();
    assert.deepEqual(h.flushed, [0]);
    h.clock.advance(10);
    h.queue.schedule(a);
    h.queue.schedule(b);
    h.clock.advance(20);
    h.queue.schedule(a);
    h.runDeferred();
    h.clock.advance(19);
    assert.deepEqual(h.flushed, [0], "49 ms after the last round: still waiting");
    h.clock.advance(1);
    h.runDeferred();
    assert.deepEqual(h.flushed, [0, 0, 1], "one more round, each session once");
    h.clock.advance(50);
    h.queue.schedule(b);
    assert.equal(h.clock.pendingTimers(), 0, "quiet for a window again: no wait");
    h.runDeferred();
    assert.deepEqual(h.flushed, [0, 0, 1, 1]);
  });

  it("a session changed again while a round drains is pushed again in that round; a removed one is not", () => {
    const h = setup(64);
    for (const s of h.sessions) h.queue.schedule(s);
    h.deferred.shift()?.();
    h.queue.schedule(h.sessions[0] as { flush: () => void });
    h.queue.remove(h.sessions[100] as { flush: () => void });
    h.runDeferred();
    assert.equal(h.flushed.length, 150);
    assert.equal(h.flushed.filter((i) => i === 0).length, 2);
    assert.ok(!h.flushed.includes(100));
    assert.equal(h.clock.pendingTimers(), 0, "no second round: the running one took the change");
  });

  it("close drops what waits", () => {
    const h = setup(64);
    h.queue.schedule(h.sessions[0] as { flush: () => void });
    h.runDeferred();
    h.queue.schedule(h.sessions[1] as { flush: () => void });
    h.queue.close();
    h.clock.advance(100);
    h.runDeferred();
    assert.deepEqual(h.flushed, [0]);
    assert.equal(h.clock.pendingTimers(), 0);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import type { ResponseSink } from "../../../src/sidecar/engine/exchange.ts";
import { THROTTLE_TICK_MS, ThrottledSink } from "../../../src/sidecar/faults/throttle.ts";

function recorder() {
  const writes: number[] = [];
  let ended: string | undefined;
  let destroyed = false;
  const sink = {
    write: (c: Buffer) => {
      writes.push(c.length);
      return true;
    },
    onDrain: () => {},
    end: (_c?: Buffer, trailers = "") => {
      ended = trailers;
    },
    destroy: () => {
      destroyed = true;
    },
  } as unknown as ResponseSink;
  return { sink, writes, ended: () => ended, destroyed: () => destroyed };
}

describe("throttled response body", () => {
  it("sends rate x tick bytes per tick, asks the upstream to wait, and ends after the last slice", () => {
    const clock = new FakeClock();
    const r = recorder();
    const t = new ThrottledSink(r.sink, 1_000, clock);
    let drained = 0;
    t.onDrain(() => drained++);
    assert.equal(t.write(Buffer.alloc(250)), false);
    assert.deepEqual(r.writes, [100]);
    t.end(undefined, "grpc-status: 0\r\n");
    clock.advance(THROTTLE_TICK_MS);
    assert.deepEqual(r.writes, [100, 100]);
    assert.equal(r.ended(), undefined);
    clock.advance(THROTTLE_TICK_MS);
    assert.deepEqual(r.writes, [100, 100, 50]);
    assert.equal(r.ended(), "grpc-status: 0\r\n");
    assert.equal(drained, 0);
  });

  it("calls the upstream back once its queue is sent; destroy stops the timer", () => {
    const clock = new FakeClock();
    const r = recorder();
    const t = new ThrottledSink(r.sink, 10_000, clock);
    let drained = 0;
    t.onDrain(() => drained++);
    t.write(Buffer.alloc(500));
    assert.equal(drained, 1, "500 bytes fit in one 1,000-byte slice");
    t.write(Buffer.alloc(3_000));
    assert.deepEqual(r.writes, [500, 500]);
    t.destroy();
    clock.advance(10 * THROTTLE_TICK_MS);
    assert.deepEqual(r.writes, [500, 500]);
    assert.ok(r.destroyed());
  });
});

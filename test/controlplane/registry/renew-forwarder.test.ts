import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import { RenewForwarder } from "../../../src/controlplane/registry/renew-forwarder.ts";

describe("RenewForwarder", () => {
  it("sends one batch per window and tells each caller whether the leader knew its lease", async () => {
    const clock = new FakeClock();
    const batches: string[][] = [];
    const fwd = new RenewForwarder(
      clock,
      async (ids) => {
        batches.push(ids);
        return { leader: true, unknown: ["b"] };
      },
      1000,
    );
    const results = Promise.all([fwd.renew("a"), fwd.renew("b"), fwd.renew("a")]);
    clock.advance(999);
    assert.equal(batches.length, 0);
    clock.advance(1);
    assert.deepEqual(await results, [true, false, true]);
    assert.deepEqual(batches, [["a", "b"]]);
  });

  it("treats every lease as known when the node asked is not the leader, and fails callers on an RPC error", async () => {
    const clock = new FakeClock();
    let fail = false;
    const fwd = new RenewForwarder(clock, async () => {
      if (fail) throw new Error("unavailable");
      return { leader: false, unknown: ["a"] };
    });
    const known = fwd.renew("a");
    clock.advance(1000);
    assert.equal(await known, true);
    fail = true;
    const failed = assert.rejects(fwd.renew("a"), /unavailable/);
    clock.advance(1000);
    await failed;
  });
});

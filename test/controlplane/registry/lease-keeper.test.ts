import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import { LeaseKeeper } from "../../../src/controlplane/registry/lease-keeper.ts";

describe("LeaseKeeper", () => {
  it("expires a lease one TTL after its last renewal", () => {
    const clock = new FakeClock();
    const keeper = new LeaseKeeper(clock);
    keeper.takeOver([]);
    keeper.granted("L1", 15_000);
    clock.advance(10_000);
    assert.equal(keeper.renew("L1"), true);
    clock.advance(14_999);
    assert.deepEqual(keeper.due(), []);
    assert.equal(keeper.nextDueInMs(), 1);
    clock.advance(1);
    assert.deepEqual(keeper.due(), ["L1"]);
    keeper.removed("L1");
    assert.equal(keeper.renew("L1"), false);
  });

  it("a new leader extends every lease by one full TTL before expiring any", () => {
    const clock = new FakeClock(1_000_000);
    const keeper = new LeaseKeeper(clock);
    keeper.granted("ignored-while-follower", 1000);
    assert.deepEqual(keeper.due(), []);
    keeper.takeOver([
      { id: "L1", ttlMs: 15_000 },
      { id: "L2", ttlMs: 3_000 },
    ]);
    clock.advance(2_999);
    assert.deepEqual(keeper.due(), []);
    clock.advance(1);
    assert.deepEqual(keeper.due(), ["L2"]);
    clock.advance(12_000);
    assert.deepEqual(keeper.due(), ["L1", "L2"]);
  });

  it("a follower renews nothing and expires nothing", () => {
    const clock = new FakeClock();
    const keeper = new LeaseKeeper(clock);
    keeper.takeOver([{ id: "L1", ttlMs: 1000 }]);
    keeper.stepDown();
    clock.advance(5000);
    assert.equal(keeper.renew("L1"), false);
    assert.deepEqual(keeper.due(), []);
  });
});

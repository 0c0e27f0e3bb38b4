import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import { silentLogger } from "../../../src/common/logger.ts";
import type { RegistryCommand } from "../../../src/controlplane/registry/commands.ts";
import { LeaseExpiryLoop } from "../../../src/controlplane/registry/expiry.ts";
import { LeaseKeeper } from "../../../src/controlplane/registry/lease-keeper.ts";

const flush = () => new Promise((r) => setImmediate(r));

describe("LeaseExpiryLoop", () => {
  it("expires due leases in one entry, never two proposals at once, retrying after a failure", async () => {
    const clock = new FakeClock();
    const keeper = new LeaseKeeper(clock);
    keeper.takeOver([
      { id: "a", ttlMs: 1000 },
      { id: "b", ttlMs: 1000 },
      { id: "c", ttlMs: 5000 },
    ]);
    const proposed: RegistryCommand[] = [];
    let settle: ((ok: boolean) => void) | undefined;
    const loop = new LeaseExpiryLoop({
      clock,
      keeper,
      logger: silentLogger(),
      checkMs: 100,
      propose: (command) => {
        proposed.push(command);
        return new Promise((resolve, reject) => {
          settle = (ok) => (ok ? resolve(undefined) : reject(new Error("no leader")));
        });
      },
    });
    loop.start();
    clock.advance(900);
    assert.equal(proposed.length, 0);
    clock.advance(100);
    assert.deepEqual(proposed, [{ type: "mesh.lease.expire", leaseIds: ["a", "b"] }]);
    clock.advance(500);
    assert.equal(proposed.length, 1, "no second proposal while one is in flight");
    settle?.(false);
    await flush();
    clock.advance(100);
    assert.equal(proposed.length, 2, "retried after the failure");
    settle?.(true);
    await flush();
    assert.deepEqual(keeper.due(), []);
    loop.stop();
    assert.equal(clock.pendingTimers(), 0);
  });
});

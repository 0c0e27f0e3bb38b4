import type { Clock } from "../../common/clock.ts";
import { errorCode, errorMessage } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import { LeaderSweep } from "../leader-sweep.ts";
import type { RegistryCommand } from "./commands.ts";
import type { LeaseKeeper } from "./lease-keeper.ts";

/** How often the leader looks for due leases; expiry is at most this late. */
export const EXPIRY_CHECK_MS = 500;

export interface ExpiryDeps {
  clock: Clock;
  keeper: LeaseKeeper;
  logger: Logger;
  propose: (command: RegistryCommand) => Promise<unknown>;
  checkMs?: number;
}

/**
 * The leader's expiry loop: every check, the leases past their deadline are
 * expired by ONE Raft entry (one proposal in flight at a time: LeaderSweep).
 */
export class LeaseExpiryLoop {
  readonly #sweep: LeaderSweep;

  constructor(d: ExpiryDeps) {
    this.#sweep = new LeaderSweep(d.clock, d.checkMs ?? EXPIRY_CHECK_MS, () => {
      const due = d.keeper.due();
      if (due.length === 0) return undefined;
      d.logger.info({ leases: due.length }, "expiring leases");
      return d.propose({ type: "mesh.lease.expire", leaseIds: due }).then(
        () => {
          for (const id of due) d.keeper.removed(id);
        },
        (err: unknown) =>
          d.logger.warn({ code: errorCode(err), err: errorMessage(err) }, "lease expiry not committed; will retry"),
      );
    });
  }

  start(): void {
    this.#sweep.start();
  }

  stop(): void {
    this.#sweep.stop();
  }
}

import type { Clock, TimerHandle } from "../../common/clock.ts";
import { errorCode, errorMessage } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
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
 * expired by ONE Raft entry. While a proposal is in flight no other is made,
 * so a slow quorum cannot pile up duplicate expiries; a failed proposal (lost
 * leadership, timeout) is simply retried at the next check if still due.
 */
export class LeaseExpiryLoop {
  readonly #d: ExpiryDeps;
  #timer: TimerHandle | undefined;
  #inFlight = false;
  #running = false;

  constructor(deps: ExpiryDeps) {
    this.#d = deps;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#d.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = this.#d.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#check();
      this.#schedule();
    }, this.#d.checkMs ?? EXPIRY_CHECK_MS);
  }

  #check(): void {
    if (this.#inFlight) return;
    const due = this.#d.keeper.due();
    if (due.length === 0) return;
    this.#inFlight = true;
    this.#d.logger.info({ leases: due.length }, "expiring leases");
    this.#d
      .propose({ type: "mesh.lease.expire", leaseIds: due })
      .then(
        () => {
          for (const id of due) this.#d.keeper.removed(id);
        },
        (err: unknown) =>
          this.#d.logger.warn(
            { code: errorCode(err), err: errorMessage(err) },
            "lease expiry not committed; will retry",
          ),
      )
      .finally(() => {
        this.#inFlight = false;
      });
  }
}

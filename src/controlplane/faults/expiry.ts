import type { Clock } from "../../common/clock.ts";
import { errorCode, errorMessage } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import { LeaderSweep } from "../leader-sweep.ts";
import type { KvView } from "../registry/kv-ops.ts";
import { type FaultCommand, storedExperiments } from "./commands.ts";

/** How often the leader looks for experiments past their deadline: an experiment ends at most this late. */
export const FAULT_EXPIRY_CHECK_MS = 250;

export interface FaultExpiryDeps {
  clock: Clock;
  /** Wall-clock ms (epoch): deadlines are wall-clock, the same on every node. */
  wallNow: () => number;
  isLeader: () => boolean;
  /** The applied state on this node. */
  view: () => KvView;
  propose: (command: FaultCommand) => Promise<{ removed: string[] }>;
  logger: Logger;
  checkMs?: number;
}

/**
 * Ends experiments at their deadline. Runs on every node and acts only while
 * it leads; the deadline is read from the replicated state at every check,
 * so a new leader expires an experiment exactly when the old one would have:
 * a failover neither extends nor loses it (unlike leases, which restart on
 * takeover because their renewals are not in the log). One proposal at a
 * time (LeaderSweep); a failed one is tried again at the next check.
 */
export class FaultExpiryLoop {
  readonly #sweep: LeaderSweep;

  constructor(d: FaultExpiryDeps) {
    this.#sweep = new LeaderSweep(d.clock, d.checkMs ?? FAULT_EXPIRY_CHECK_MS, () => {
      if (!d.isLeader()) return undefined;
      const at = d.wallNow();
      const due: string[] = [];
      for (const [name, s] of storedExperiments(d.view())) {
        if ((s.experiment.status?.deadline ?? 0) <= at) due.push(name);
      }
      if (due.length === 0) return undefined;
      return d.propose({ type: "mesh.fault.expire", names: due.sort(), at }).then(
        ({ removed }) => {
          for (const name of removed)
            d.logger.info({ experiment: name, by: "control-plane" }, "chaos experiment expired");
        },
        (err: unknown) =>
          d.logger.warn(
            { code: errorCode(err), err: errorMessage(err) },
            "experiment expiry not committed; will retry",
          ),
      );
    });
  }

  start(): void {
    this.#sweep.start();
  }

  stop(): void {
    this.#sweep.stop();
  }

  /** One check (the timer calls it; tests may too). */
  check(): void {
    this.#sweep.run();
  }
}

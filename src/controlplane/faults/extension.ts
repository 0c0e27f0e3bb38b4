import { systemClock } from "../../common/clock.ts";
import type { Logger } from "../../common/logger.ts";
import type { ControlNode } from "../node.ts";
import { type Command, kvView, type StateMachine } from "../state/machine.ts";
import { chaosApi } from "./api.ts";
import { type FaultCommand, registerFaultCommands } from "./commands.ts";
import { FaultExpiryLoop } from "./expiry.ts";

interface ExtensionContextLike {
  node: ControlNode;
  logger: Logger;
}

/** How long an expiry entry may take to commit before the loop tries again. */
const EXPIRE_DEADLINE_MS = 5_000;

/**
 * Fault experiments inside `meshlet control`: the stop/expire commands, the
 * leader's expiry loop and the chaos HTTP API. Shaped as a ControlExtension
 * (extensions.ts checks it).
 */
export function faultsExtension() {
  let loop: FaultExpiryLoop | undefined;
  return {
    name: "faults",
    register: (sm: StateMachine) => registerFaultCommands(sm),
    start({ node, logger }: ExtensionContextLike) {
      const log = logger.child({ subsystem: "chaos" });
      loop = new FaultExpiryLoop({
        clock: systemClock,
        wallNow: Date.now,
        isLeader: () => node.isLeader(),
        view: () => kvView(node.kv),
        propose: async (command: FaultCommand) =>
          (
            await node.propose<{ removed: string[] }>(command as unknown as Command, {
              deadlineMs: EXPIRE_DEADLINE_MS,
            })
          ).result,
        logger: log,
      });
      loop.start();
      return [chaosApi({ logger })];
    },
    stop() {
      loop?.stop();
      loop = undefined;
    },
  };
}

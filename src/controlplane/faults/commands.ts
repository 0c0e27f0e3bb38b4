import type { FaultExperiment } from "../../config/resources.ts";
import type { KvOp, KvView, Outcome } from "../registry/kv-ops.ts";
import { storedResources } from "../resources/commands.ts";
import { resourceKey } from "../resources/keys.ts";
import type { StateMachine } from "../state/machine.ts";

/**
 * Ends of FaultExperiments, as Raft entries. An experiment starts as a
 * plain `mesh.resource.put` (create only) of the resource with its status
 * (deadline, who, why) stamped by the node that took the request.
 *
 * - `mesh.fault.expire`: the leader's expiry loop; deletes each named
 *   experiment whose stored deadline is at or before `at` (the proposer's
 *   wall clock), so an entry proposed for an experiment that was stopped
 *   and started again under the same name leaves the new one alone.
 * - `mesh.fault.stop`: `meshlet chaos stop NAME | --all`; deletes the named
 *   experiments that exist, in one entry.
 */
export type FaultCommand =
  | { type: "mesh.fault.expire"; names: string[]; at: number }
  | { type: "mesh.fault.stop"; names: string[] };

export const FAULT_COMMAND_TYPES = ["mesh.fault.expire", "mesh.fault.stop"] as const;

/** Every stored experiment, by name. */
export function storedExperiments(kv: KvView): Map<string, { experiment: FaultExperiment; revision: number }> {
  const out = new Map<string, { experiment: FaultExperiment; revision: number }>();
  for (const s of storedResources(kv, "FaultExperiment").values()) {
    if (s.resource.kind === "FaultExperiment")
      out.set(s.resource.metadata.name, { experiment: s.resource, revision: s.revision });
  }
  return out;
}

export function applyFaultCommand(kv: KvView, command: FaultCommand): Outcome<{ removed: string[] }> {
  const stored = storedExperiments(kv);
  const removed: string[] = [];
  for (const name of command.names) {
    const s = stored.get(name);
    if (s === undefined) continue;
    if (command.type === "mesh.fault.expire" && (s.experiment.status?.deadline ?? 0) > command.at) continue;
    removed.push(name);
  }
  const ops = removed.map((name): KvOp => ({ op: "delete", key: resourceKey("FaultExperiment", name) }));
  return { ops, result: { removed } };
}

export function registerFaultCommands(sm: StateMachine): void {
  for (const type of FAULT_COMMAND_TYPES) {
    sm.register(type, (command, { kv }) => {
      const { ops, result } = applyFaultCommand(kv.view(), command as unknown as FaultCommand);
      kv.applyOps(ops);
      return result;
    });
  }
}

import { applyReleaseRules } from "../config/release-rules.ts";
import { applyRegistryCommand, type RegistryCommand } from "../registry/commands.ts";
import type { StateMachine } from "../state/machine.ts";
import { applyResourceCommand, type ResourceCommand } from "./commands.ts";

const RESOURCE_TYPES = ["mesh.apply", "mesh.resource.put", "mesh.resource.delete"] as const;
const REGISTRY_TYPES = ["mesh.register", "mesh.deregister", "mesh.lease.revoke", "mesh.lease.expire"] as const;

/**
 * The mesh's command handlers: pure functions of (KV, command) whose ops the
 * state machine applies all-or-nothing with the entry's index as revision.
 */
export function registerMeshCommands(sm: StateMachine): void {
  for (const type of RESOURCE_TYPES) {
    sm.register(type, (command, { kv, index }) => {
      const { ops, result } = applyResourceCommand(kv.view(), command as unknown as ResourceCommand);
      applyReleaseRules(kv, ops, index, { at: typeof command.at === "number" ? command.at : undefined });
      kv.applyOps(ops);
      return result;
    });
  }
  for (const type of REGISTRY_TYPES) {
    sm.register(type, (command, { kv }) => {
      const { ops, result } = applyRegistryCommand(kv.view(), command as unknown as RegistryCommand);
      kv.applyOps(ops);
      return result;
    });
  }
}

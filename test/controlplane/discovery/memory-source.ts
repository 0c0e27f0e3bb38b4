import { createMeshStateReader } from "../../../src/controlplane/discovery/mesh-state.ts";
import type { MeshSource } from "../../../src/controlplane/discovery/server.ts";
import type { MeshState } from "../../../src/controlplane/discovery/snapshot.ts";
import { applyRegistryCommand, type RegistryCommand } from "../../../src/controlplane/registry/commands.ts";
import type { Outcome } from "../../../src/controlplane/registry/kv-ops.ts";
import type { LeaseKeeper } from "../../../src/controlplane/registry/lease-keeper.ts";
import { applyResourceCommand, type ResourceCommand } from "../../../src/controlplane/resources/commands.ts";
import { MemoryKv } from "../registry/memory-kv.ts";

/**
 * A single in-process "node": commands apply at once to a MemoryKv, as the
 * state machine would apply them from Raft entries. Enough to drive the
 * Discovery server without a cluster.
 */
export class MemorySource implements MeshSource {
  readonly nodeId = "memory-1";
  readonly kv = new MemoryKv();
  readonly commands: (RegistryCommand | ResourceCommand)[] = [];
  readonly #listeners = new Set<() => void>();
  readonly #read = createMeshStateReader();
  readonly #keeper: LeaseKeeper | undefined;

  constructor(keeper?: LeaseKeeper) {
    this.#keeper = keeper;
  }

  state(): MeshState {
    return this.#read(this.kv, this.kv.revision);
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async propose(command: RegistryCommand | ResourceCommand): Promise<{ revision: number }> {
    this.commands.push(command);
    const outcome: Outcome<unknown> =
      command.type.startsWith("mesh.resource") || command.type === "mesh.apply"
        ? applyResourceCommand(this.kv, command as ResourceCommand)
        : applyRegistryCommand(this.kv, command as RegistryCommand);
    this.kv.apply(outcome.ops);
    if (command.type === "mesh.register") this.#keeper?.granted(command.endpoint.leaseId, command.ttlMs);
    if (outcome.ops.length > 0) for (const l of this.#listeners) l();
    return { revision: this.kv.revision };
  }

  async renew(leaseId: string): Promise<boolean> {
    return this.#keeper?.renew(leaseId) ?? false;
  }

  describe() {
    return { id: this.nodeId, leader: this.nodeId, term: 1, commitIndex: 0, appliedIndex: 0 };
  }

  renewLocal(leaseIds: readonly string[]): { leader: boolean; unknown: string[] } {
    return { leader: this.#keeper?.leading ?? false, unknown: leaseIds.filter((id) => !this.#keeper?.renew(id)) };
  }
}

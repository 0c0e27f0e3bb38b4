import type { ControlNode, NodeEvents, Proposed } from "../../../src/controlplane/node.ts";
import { registerMeshCommands } from "../../../src/controlplane/resources/register-commands.ts";
import { RevisionedKv } from "../../../src/controlplane/state/kv.ts";
import { type Command, encodeCommand, StateMachine } from "../../../src/controlplane/state/machine.ts";

/**
 * A one-node "cluster" without Raft: every proposal is applied at once by the
 * real state machine with the mesh's real handlers. Leadership is set by hand.
 */
export class SingleNode implements ControlNode {
  readonly id: string;
  readonly term = 1;
  readonly kv: RevisionedKv;
  readonly sm: StateMachine;
  leading = true;
  #index = 0;
  readonly #listeners: { [E in keyof NodeEvents]: Set<NodeEvents[E]> } = {
    leaderChange: new Set(),
    applied: new Set(),
  };

  constructor(id = "n1", kv = new RevisionedKv()) {
    this.id = id;
    this.kv = kv;
    this.sm = new StateMachine(kv);
    registerMeshCommands(this.sm);
  }

  isLeader(): boolean {
    return this.leading;
  }

  leader(): string {
    return this.leading ? this.id : "";
  }

  raftStatus(): { commit: number; applied: number } {
    return { commit: this.kv.revision, applied: this.kv.revision };
  }

  setLeader(leading: boolean): void {
    this.leading = leading;
    for (const l of this.#listeners.leaderChange) l(this.leader(), this.term);
  }

  async propose<R = unknown>(command: Command): Promise<Proposed<R>> {
    const result = this.sm.apply(++this.#index, this.term, encodeCommand(command));
    for (const l of this.#listeners.applied) l(this.#index);
    if (!result.ok) throw result.error;
    return { revision: result.revision, result: result.result as R };
  }

  async read<T>(fn: (kv: RevisionedKv) => T): Promise<T> {
    return fn(this.kv);
  }

  on<E extends keyof NodeEvents>(event: E, listener: NodeEvents[E]): () => void {
    const set = this.#listeners[event] as Set<NodeEvents[E]>;
    set.add(listener);
    return () => set.delete(listener);
  }
}

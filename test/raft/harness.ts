/** A tiny in-process driver for scenario tests: messages wait in a queue until delivered. */
import { decodeConfChange } from "../../src/raft/confchange.ts";
import { type RaftConfig, RawNode } from "../../src/raft/rawnode.ts";
import { MemoryStorage } from "../../src/raft/storage.ts";
import type { Entry, Message, NodeId, ReadState } from "../../src/raft/types.ts";
import { Rng } from "../sim/rng.ts";

export interface TestNode {
  raw: RawNode;
  storage: MemoryStorage;
  applied: Entry[];
  reads: ReadState[];
}

export class Cluster {
  readonly nodes = new Map<NodeId, TestNode>();
  queue: Message[] = [];
  /** Messages for which this returns true are dropped when sent. */
  drop: (m: Message) => boolean = () => false;
  readonly rng = new Rng(7);
  readonly options: Partial<RaftConfig>;

  constructor(ids: NodeId[], options: Partial<RaftConfig> = {}) {
    this.options = options;
    for (const id of ids) {
      const storage = new MemoryStorage();
      RawNode.bootstrap(storage, ids);
      this.add(id, storage);
    }
  }

  add(id: NodeId, storage: MemoryStorage, applied = 0): TestNode {
    const raw = new RawNode({
      id,
      electionTick: 10,
      heartbeatTick: 1,
      storage,
      random: this.rng,
      applied,
      ...this.options,
    });
    const n: TestNode = { raw, storage, applied: [], reads: [] };
    this.nodes.set(id, n);
    this.process(id);
    return n;
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  raw(id: NodeId): RawNode {
    return this.node(id).raw;
  }

  process(id: NodeId): void {
    const n = this.node(id);
    while (n.raw.hasReady()) {
      const rd = n.raw.ready();
      if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
      n.storage.append(rd.entries);
      if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
      for (const m of rd.messages) if (!this.drop(m)) this.queue.push(m);
      for (const e of rd.committedEntries) {
        n.applied.push(e);
        if (e.type === "confChange") n.raw.applyConfChange(decodeConfChange(e.data));
      }
      n.reads.push(...rd.readStates);
      n.raw.advance();
    }
  }

  deliver(m: Message): void {
    const n = this.nodes.get(m.to);
    if (n === undefined) return;
    n.raw.step(m);
    this.process(m.to);
  }

  /** Takes the queued messages that match (all by default) out of the queue. */
  take(match: (m: Message) => boolean = () => true): Message[] {
    const out = this.queue.filter(match);
    this.queue = this.queue.filter((m) => !match(m));
    return out;
  }

  stabilize(limit = 10_000): void {
    for (let i = 0; i < limit && this.queue.length > 0; i++) {
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) this.deliver(m);
    }
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.raw(id).tick();
      this.process(id);
    }
  }

  elect(id: NodeId): void {
    this.raw(id).campaign();
    this.process(id);
    this.stabilize();
  }

  isolate(id: NodeId): void {
    this.drop = (m) => m.from === id || m.to === id;
  }

  heal(): void {
    this.drop = () => false;
  }

  propose(id: NodeId, text: string): void {
    this.raw(id).propose(new TextEncoder().encode(text));
    this.process(id);
  }

  appliedData(id: NodeId): string[] {
    return this.node(id)
      .applied.filter((e) => e.type === "normal" && e.data.byteLength > 0)
      .map((e) => new TextDecoder().decode(e.data));
  }
}

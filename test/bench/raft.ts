/**
 * bench:raft — committed entries per second of an in-process 3-node cluster:
 * MemoryStorage, a zero-latency network, 64-byte entries proposed in batches.
 * One thread drives all three nodes, so this measures the core on one core.
 */
import os from "node:os";
import { decodeConfChange } from "../../src/raft/confchange.ts";
import { RawNode } from "../../src/raft/rawnode.ts";
import { MemoryStorage } from "../../src/raft/storage.ts";
import type { Message, NodeId } from "../../src/raft/types.ts";
import { Rng } from "../sim/rng.ts";

const BATCH = Number(process.env.BATCH ?? "512");
const SECONDS = Number(process.env.SECONDS ?? "5");
const ids = ["n1", "n2", "n3"];

interface Node {
  raw: RawNode;
  storage: MemoryStorage;
  applied: number;
}

const nodes = new Map<NodeId, Node>();
const rng = new Rng(1);
for (const id of ids) {
  const storage = new MemoryStorage();
  RawNode.bootstrap(storage, ids);
  nodes.set(id, {
    raw: new RawNode({ id, electionTick: 10, heartbeatTick: 1, storage, random: rng, maxInflightMsgs: 256 }),
    storage,
    applied: 0,
  });
}

let inbox: Message[] = [];
let committed = 0;

function pump(): void {
  for (;;) {
    let progressed = false;
    for (const n of nodes.values()) {
      while (n.raw.hasReady()) {
        progressed = true;
        const rd = n.raw.ready();
        if (rd.entries.length > 0) n.storage.append(rd.entries);
        if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
        for (const m of rd.messages) inbox.push(m);
        for (const e of rd.committedEntries)
          if (e.type === "confChange") n.raw.applyConfChange(decodeConfChange(e.data));
        if (n === leader) committed += rd.committedEntries.length;
        n.raw.advance();
      }
    }
    if (inbox.length > 0) {
      progressed = true;
      const batch = inbox;
      inbox = [];
      for (const m of batch) nodes.get(m.to)?.raw.step(m);
    }
    if (!progressed) return;
  }
}

const first = nodes.get("n1");
if (first === undefined) throw new Error("no n1");
const leader: Node = first;
pump();
leader.raw.campaign();
pump();
if (leader.raw.status().role !== "leader") throw new Error("n1 did not become leader");

const payload = new Uint8Array(64).fill(7);
const batch = Array.from({ length: BATCH }, () => payload);
const start = performance.now();
const startCommitted = committed;
let compactAt = 0;
let nextNote = start + 1000;
while (performance.now() - start < SECONDS * 1000) {
  if (performance.now() >= nextNote) {
    nextNote += 1000;
    const s = (performance.now() - start) / 1000;
    process.stderr.write(
      `bench:raft: ${s.toFixed(0)} of ${SECONDS} s, ${(committed - startCommitted).toLocaleString("en-US")} entries committed\n`,
    );
  }
  leader.raw.proposeBatch(batch);
  pump();
  // Keep memory flat as a long-running node would: snapshot and compact now and then.
  const applied = leader.raw.status().applied;
  if (applied - compactAt > 200_000) {
    for (const n of nodes.values()) {
      const a = n.raw.status().applied;
      n.storage.createSnapshot(a, n.raw.status().confState, new Uint8Array());
      n.storage.compact(a);
    }
    compactAt = applied;
  }
}
const elapsed = (performance.now() - start) / 1000;
const rate = (committed - startCommitted) / elapsed;
process.stdout.write(
  `raft 3-node in-process, 64-byte entries, batches of ${BATCH}: ${Math.round(rate).toLocaleString("en-US")} committed entries/s ` +
    `(${committed - startCommitted} in ${elapsed.toFixed(1)} s; cores ${os.availableParallelism()}, node ${process.version})\n`,
);

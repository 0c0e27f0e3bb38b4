import type { Message, NodeId } from "./types.ts";

interface ReadRequest {
  index: number;
  req: Message;
  acks: Set<NodeId>;
}

function key(ctx: Uint8Array): string {
  let s = "";
  for (const b of ctx) s += String.fromCharCode(b);
  return s;
}

/**
 * ReadIndex requests waiting for a heartbeat round to confirm the leader is
 * still the leader (§6.4 of Ongaro's thesis). Requests are kept in arrival
 * order: an ack for a later one also confirms every earlier one.
 */
export class ReadOnly {
  #pending = new Map<string, ReadRequest>();
  #queue: string[] = [];

  add(index: number, req: Message, self: NodeId): void {
    const k = key(req.context);
    if (this.#pending.has(k)) return;
    this.#pending.set(k, { index, req, acks: new Set([self]) });
    this.#queue.push(k);
  }

  /** Records an ack; returns the set of nodes that acked the request, if known. */
  recvAck(from: NodeId, ctx: Uint8Array): ReadonlySet<NodeId> | undefined {
    const r = this.#pending.get(key(ctx));
    if (r === undefined) return undefined;
    r.acks.add(from);
    return r.acks;
  }

  /** Releases the request with ctx and every request queued before it. */
  advance(ctx: Uint8Array): { index: number; req: Message }[] {
    const k = key(ctx);
    const at = this.#queue.indexOf(k);
    if (at < 0) return [];
    const done = this.#queue.splice(0, at + 1);
    const out: { index: number; req: Message }[] = [];
    for (const d of done) {
      const r = this.#pending.get(d);
      this.#pending.delete(d);
      if (r !== undefined) out.push({ index: r.index, req: r.req });
    }
    return out;
  }

  lastPendingContext(): Uint8Array | undefined {
    const k = this.#queue[this.#queue.length - 1];
    return k === undefined ? undefined : this.#pending.get(k)?.req.context;
  }
}

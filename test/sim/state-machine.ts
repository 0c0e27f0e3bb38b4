/**
 * The replicated application of the simulator: a set of client writes, each
 * applied once. `count` is how many distinct writes were applied, so a read's
 * value is comparable with a write's position.
 */
export class WriteSet {
  applied = new Set<string>();
  /** Position (count after applying) of each write id. */
  position = new Map<string, number>();
  count = 0;

  apply(id: string): number | undefined {
    if (this.applied.has(id)) return undefined;
    this.applied.add(id);
    this.count++;
    this.position.set(id, this.count);
    return this.count;
  }

  encode(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify([...this.position]));
  }

  static decode(data: Uint8Array): WriteSet {
    const ws = new WriteSet();
    if (data.byteLength === 0) return ws;
    const pairs = JSON.parse(new TextDecoder().decode(data)) as [string, number][];
    for (const [id, pos] of pairs) {
      ws.applied.add(id);
      ws.position.set(id, pos);
      ws.count = Math.max(ws.count, pos);
    }
    return ws;
  }
}

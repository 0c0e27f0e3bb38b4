import type { KvOp, KvView } from "../../../src/controlplane/registry/kv-ops.ts";

/** A plain map standing in for the state machine's KV in pure-handler tests. */
export class MemoryKv implements KvView {
  readonly data = new Map<string, string>();

  get(key: string): string | undefined {
    return this.data.get(key);
  }

  range(prefix: string): [string, string][] {
    return [...this.data].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  apply(ops: readonly KvOp[]): void {
    for (const op of ops) {
      if (op.op === "put") this.data.set(op.key, op.value);
      else this.data.delete(op.key);
    }
  }
}

import type { KvEntry, KvOp, KvView } from "../../../src/controlplane/registry/kv-ops.ts";

/** A plain map standing in for the state machine's KV in pure-handler tests; every apply() is one revision. */
export class MemoryKv implements KvView {
  readonly data = new Map<string, { value: string; revision: number }>();
  revision = 0;

  get(key: string): string | undefined {
    return this.data.get(key)?.value;
  }

  range(prefix: string): KvEntry[] {
    return [...this.data]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, v]) => ({ key, ...v }));
  }

  apply(ops: readonly KvOp[]): void {
    if (ops.length === 0) return;
    this.revision++;
    for (const op of ops) {
      if (op.op === "put") this.data.set(op.key, { value: op.value, revision: this.revision });
      else this.data.delete(op.key);
    }
  }
}

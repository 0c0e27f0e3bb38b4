/**
 * The registry's command handlers are written against this narrow view of the
 * state machine's KV and return their writes as data, so they stay pure and
 * deterministic (the state machine applies the ops of one command
 * all-or-nothing, in one Raft entry).
 */
export interface KvView {
  get(key: string): string | undefined;
  /** Every key starting with `prefix`, in key order, with the revision of its last write. */
  range(prefix: string): KvEntry[];
}

export interface KvEntry {
  key: string;
  value: string;
  revision: number;
}

export type KvOp = { op: "put"; key: string; value: string } | { op: "delete"; key: string };

export interface Outcome<R> {
  ops: KvOp[];
  result: R;
}

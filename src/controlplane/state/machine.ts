import { MeshletError } from "../../common/errors.ts";
import type { KvEntry, KvOp, KvView } from "../registry/kv-ops.ts";
import type { KvRecord, RevisionedKv } from "./kv.ts";
import { decodeKvSnapshot, encodeKvSnapshot } from "./snapshot-codec.ts";
import { type StoredValue, storedFromText, storedText } from "./value.ts";

/** A command as proposed: a JSON object whose `type` selects its handler. */
export interface Command {
  type: string;
  [field: string]: unknown;
}

/**
 * The KV as a handler sees it while applying one entry: reads see the
 * handler's own earlier writes; the writes reach the store only if the handler
 * returns (all-or-nothing), all with the entry's index as revision.
 */
export interface Txn {
  get(key: string): KvRecord | undefined;
  range(prefix: string): { key: string; record: KvRecord }[];
  put(key: string, value: StoredValue): void;
  delete(key: string): boolean;
  /** The same transaction with UTF-8 string values (the mesh's keys hold JSON). */
  view(): KvView;
  /** Applies a list of string ops computed by a pure handler. */
  applyOps(ops: readonly KvOp[]): void;
}

export interface ApplyContext {
  index: number;
  term: number;
  kv: Txn;
}

/**
 * Must be deterministic: no clock, no randomness, nothing but the command,
 * the entry's index/term and the KV. Throwing a MeshletError rejects the
 * command: nothing is written and the error reaches the proposer.
 */
export type CommandHandler = (command: Command, ctx: ApplyContext) => unknown;

export type ApplyResult =
  | { ok: true; revision: number; result: unknown }
  | { ok: false; revision: number; error: MeshletError };

export class UnknownCommandError extends MeshletError {
  constructor(type: string) {
    super("ERR_UNKNOWN_COMMAND", `no handler for command type "${type}"`);
    this.name = "UnknownCommandError";
  }
}

export class BadCommandError extends MeshletError {
  constructor(message: string) {
    super("ERR_BAD_COMMAND", message);
    this.name = "BadCommandError";
  }
}

const decoder = new TextDecoder();

/**
 * `prefix` goes before the command in the same bytes (the proposal id line of
 * raft-control-node.ts). Encoded by Buffer.from, which takes small buffers from
 * Node's shared pool: TextEncoder gave each write's command its own native
 * backing store, which every scavenge it lived through had to sweep.
 */
export function encodeCommand(command: Command, prefix = ""): Uint8Array {
  const b = Buffer.from(prefix + JSON.stringify(command), "utf8");
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function decodeCommand(data: Uint8Array): Command {
  const parsed: unknown = JSON.parse(decoder.decode(data));
  if (parsed === null || typeof parsed !== "object" || typeof (parsed as { type?: unknown }).type !== "string") {
    throw new BadCommandError("entry is not a command object with a string type");
  }
  return parsed as Command;
}

/**
 * Dispatches committed entries to registered handlers. Handlers must be
 * registered before the node replays its log. Handlers keep all their state in
 * the KV, so a snapshot of the KV is a snapshot of the whole machine.
 */
export class StateMachine {
  readonly kv: RevisionedKv;
  readonly #handlers = new Map<string, CommandHandler>();

  constructor(kv: RevisionedKv) {
    this.kv = kv;
  }

  register(type: string, handler: CommandHandler): void {
    if (this.#handlers.has(type)) throw new Error(`command type "${type}" registered twice`);
    this.#handlers.set(type, handler);
  }

  /** Applies one committed normal entry. Empty data (a new leader's no-op) only advances the revision. */
  apply(index: number, term: number, data: Uint8Array): ApplyResult {
    if (data.length === 0) {
      this.kv.advanceTo(index);
      return { ok: true, revision: index, result: undefined };
    }
    const txn = new BufferedTxn(this.kv);
    try {
      const command = decodeCommand(data);
      const handler = this.#handlers.get(command.type);
      if (handler === undefined) throw new UnknownCommandError(command.type);
      const result = handler(command, { index, term, kv: txn });
      txn.commit(index);
      this.kv.advanceTo(index);
      return { ok: true, revision: index, result };
    } catch (err) {
      this.kv.advanceTo(index);
      // A non-MeshletError is a handler bug; it still must not stop the log, and must fail the same way on every node.
      const error =
        err instanceof MeshletError
          ? err
          : new MeshletError("ERR_APPLY", err instanceof Error ? err.message : String(err));
      return { ok: false, revision: index, error };
    }
  }

  /** The whole machine as bytes (snapshot-codec.ts). */
  snapshot(): Uint8Array {
    return encodeKvSnapshot(this.kv.revision, (cb) => this.kv.forEachRecord(cb));
  }

  restore(data: Uint8Array): void {
    const { revision, records } = decodeKvSnapshot(data);
    this.kv.restore(records, revision);
  }
}

class BufferedTxn implements Txn {
  readonly #kv: RevisionedKv;
  /** undefined = deleted in this transaction. */
  readonly #writes = new Map<string, StoredValue | undefined>();

  constructor(kv: RevisionedKv) {
    this.#kv = kv;
  }

  get(key: string): KvRecord | undefined {
    if (!this.#writes.has(key)) return this.#kv.get(key);
    const value = this.#writes.get(key);
    if (value === undefined) return undefined;
    const prev = this.#kv.get(key);
    // Pending writes get revision 0 until commit: the entry's index is not theirs to read back.
    return { value, revision: 0, createRevision: prev?.createRevision ?? 0 };
  }

  range(prefix: string): { key: string; record: KvRecord }[] {
    const keys = new Set(this.#kv.range(prefix).map((e) => e.key));
    for (const k of this.#writes.keys()) if (k.startsWith(prefix)) keys.add(k);
    const out: { key: string; record: KvRecord }[] = [];
    for (const key of [...keys].sort()) {
      const record = this.get(key);
      if (record !== undefined) out.push({ key, record });
    }
    return out;
  }

  put(key: string, value: StoredValue): void {
    this.#writes.set(key, value);
  }

  delete(key: string): boolean {
    const existed = this.get(key) !== undefined;
    this.#writes.set(key, undefined);
    return existed;
  }

  view(): KvView {
    return {
      get: (key) => {
        const r = this.get(key);
        return r === undefined ? undefined : storedText(r.value);
      },
      range: (prefix): KvEntry[] =>
        this.range(prefix).map((e) => ({
          key: e.key,
          value: storedText(e.record.value),
          revision: e.record.revision,
        })),
    };
  }

  applyOps(ops: readonly KvOp[]): void {
    for (const op of ops) {
      if (op.op === "put") this.put(op.key, storedFromText(op.value));
      else this.delete(op.key);
    }
  }

  commit(revision: number): void {
    for (const [key, value] of this.#writes) {
      if (value === undefined) this.#kv.delete(key, revision);
      else this.#kv.put(key, value, revision);
    }
  }
}

/** A read-only string view of the applied KV (what the mesh's readers take). */
export function kvView(kv: RevisionedKv): KvView {
  return {
    get: (key) => {
      const r = kv.get(key);
      return r === undefined ? undefined : storedText(r.value);
    },
    range: (prefix) =>
      kv.range(prefix).map((e) => ({ key: e.key, value: storedText(e.record.value), revision: e.record.revision })),
  };
}

/**
 * A linearizability checker for a history of operations on a set of CAS
 * registers (Wing & Gong search with Lowe's memoisation, as in Porcupine).
 * Keys are independent registers, so each key is checked on its own.
 *
 * A write whose outcome is unknown (timeout, crash, 503 after it may have been
 * proposed) is given a return at +Infinity: it may take effect at any point
 * after its invocation, or effectively never (last).
 */

export type Value = string | null;

export type Op =
  | { kind: "get"; key: string; out: Value }
  | { kind: "put"; key: string; value: string }
  /** `ok` is the outcome when known: true = swapped, false = the register did not hold `expected`. */
  | { kind: "cas"; key: string; expected: Value; value: string; ok: boolean | undefined };

export interface HistoryOp {
  op: Op;
  /** Milliseconds (any monotonic clock shared by all clients). */
  invoke: number;
  /** Infinity when the outcome is unknown. */
  complete: number;
  /** Which node served it and what it answered (HTTP status or the error): for the report, not the check. */
  node?: string;
  result?: string;
}

export interface CheckResult {
  linearizable: boolean;
  /** Keys whose sub-history is not linearizable (or not proven so within the budget). */
  badKeys: string[];
  /** The bad keys whose search ran out of budget rather than proving a violation. */
  overBudgetKeys: string[];
}

interface Node {
  id: number;
  isCall: boolean;
  op: Op;
  time: number;
  match: Node | undefined;
  prev: Node | undefined;
  next: Node | undefined;
}

/** The register's transition: undefined = this op cannot happen in `state`. */
function step(state: Value, op: Op): Value | undefined {
  switch (op.kind) {
    case "get":
      return op.out === state ? state : undefined;
    case "put":
      return op.value;
    case "cas":
      if (op.ok === true) return state === op.expected ? op.value : undefined;
      if (op.ok === false) return state !== op.expected ? state : undefined;
      return state === op.expected ? op.value : state;
  }
}

function checkKey(ops: readonly HistoryOp[], budget: number): boolean | "budget" {
  const events: Node[] = [];
  ops.forEach((h, id) => {
    const call: Node = {
      id,
      isCall: true,
      op: h.op,
      time: h.invoke,
      match: undefined,
      prev: undefined,
      next: undefined,
    };
    const ret: Node = {
      id,
      isCall: false,
      op: h.op,
      time: h.complete,
      match: undefined,
      prev: undefined,
      next: undefined,
    };
    call.match = ret;
    events.push(call, ret);
  });
  // Equal times: calls first, so touching operations count as concurrent (the permissive reading).
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const head: Node = {
    id: -1,
    isCall: false,
    op: { kind: "put", key: "", value: "" },
    time: -1,
    match: undefined,
    prev: undefined,
    next: undefined,
  };
  let prev = head;
  for (const e of events) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }
  const lift = (call: Node): void => {
    const ret = call.match as Node;
    (call.prev as Node).next = call.next;
    if (call.next) call.next.prev = call.prev;
    (ret.prev as Node).next = ret.next;
    if (ret.next) ret.next.prev = ret.prev;
  };
  const unlift = (call: Node): void => {
    const ret = call.match as Node;
    (ret.prev as Node).next = ret;
    if (ret.next) ret.next.prev = ret;
    (call.prev as Node).next = call;
    if (call.next) call.next.prev = call;
  };

  let state: Value = null;
  let linearized = 0n;
  const cache = new Set<string>();
  const stack: { call: Node; state: Value }[] = [];
  let entry = head.next;
  let steps = 0;
  while (head.next !== undefined) {
    if (++steps > budget) return "budget";
    if (entry === undefined) return false;
    if (entry.isCall) {
      const next = step(state, entry.op);
      if (next !== undefined) {
        const lin = linearized | (1n << BigInt(entry.id));
        const key = `${lin.toString(36)}|${next === null ? "\u0000" : next}`;
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ call: entry, state });
          state = next;
          linearized = lin;
          lift(entry);
          entry = head.next;
          continue;
        }
      }
      entry = entry.next;
    } else {
      const top = stack.pop();
      if (top === undefined) return false;
      state = top.state;
      linearized &= ~(1n << BigInt(top.call.id));
      unlift(top.call);
      entry = top.call.next;
    }
  }
  return true;
}

/** Checks every key; a key whose search exceeds `budget` steps counts as not proven linearizable. */
export function checkHistory(history: readonly HistoryOp[], budget = 5_000_000): CheckResult {
  const byKey = new Map<string, HistoryOp[]>();
  for (const h of history) {
    const list = byKey.get(h.op.key) ?? [];
    list.push(h);
    byKey.set(h.op.key, list);
  }
  const badKeys: string[] = [];
  const overBudgetKeys: string[] = [];
  for (const [key, ops] of byKey) {
    const r = checkKey(ops, budget);
    if (r !== true) badKeys.push(key);
    if (r === "budget") overBudgetKeys.push(key);
  }
  return { linearizable: badKeys.length === 0, badKeys, overBudgetKeys };
}

/**
 * A 1-minimal non-linearizable sub-history of one key's `ops`: dropping any
 * one of the ops it returns makes it linearizable (or unprovable within
 * `budget`), except writes of a value that a kept op reads or expects, which
 * are never dropped (else "read a value nobody wrote" would be the trivial,
 * useless witness). Dropping operations from a history keeps it a history,
 * so what is left is a witness a reader can follow by hand (not 1-minimal if
 * `timeLimitMs` ran out). Undefined when
 * `ops` is not proven non-linearizable to begin with.
 */
export function minimalBadSubHistory(
  ops: readonly HistoryOp[],
  { budget = 200_000, timeLimitMs = 20_000 } = {},
): HistoryOp[] | undefined {
  if (checkKey(ops, budget) !== false) return undefined;
  let kept = [...ops];
  // Past the time limit what is kept is still a witness, only not a minimal one.
  const stopAt = performance.now() + timeLimitMs;
  // From the end: the history's tail usually holds the read that exposes the anomaly, the head its cause.
  for (let i = kept.length - 1; i >= 0 && performance.now() < stopAt; i--) {
    const op = kept[i]?.op;
    if (op !== undefined && op.kind !== "get" && kept.some((k) => observes(k.op, op.value))) continue;
    const without = [...kept.slice(0, i), ...kept.slice(i + 1)];
    if (checkKey(without, budget) === false) kept = without;
  }
  return kept;
}

/** One line per operation, for reports: times in ms, "?" for an unknown outcome. */
export function describeOp(h: HistoryOp): string {
  const t = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "?");
  const o = h.op;
  const what =
    o.kind === "get"
      ? `get ${o.key} -> ${JSON.stringify(o.out)}`
      : o.kind === "put"
        ? `put ${o.key} = ${JSON.stringify(o.value)}`
        : `cas ${o.key} ${JSON.stringify(o.expected)} -> ${JSON.stringify(o.value)} ok=${String(o.ok)}`;
  return `[${t(h.invoke)} .. ${t(h.complete)}] ${h.node ?? "-"} ${what} (${h.result ?? "-"})`;
}

function observes(op: Op, value: string): boolean {
  return (op.kind === "get" && op.out === value) || (op.kind === "cas" && op.expected === value);
}

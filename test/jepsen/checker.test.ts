import assert from "node:assert/strict";
import { test } from "node:test";
import { checkHistory, describeOp, type HistoryOp, minimalBadSubHistory, type Op } from "./checker.ts";

const h = (op: Op, invoke: number, complete: number): HistoryOp => ({ op, invoke, complete });
const put = (value: string, key = "k"): Op => ({ kind: "put", key, value });
const get = (out: string | null, key = "k"): Op => ({ kind: "get", key, out });
const cas = (expected: string | null, value: string, ok: boolean | undefined, key = "k"): Op => ({
  kind: "cas",
  key,
  expected,
  value,
  ok,
});

test("sequential and overlapping histories that have a valid order pass", () => {
  assert.equal(
    checkHistory([
      h(get(null), 0, 1),
      h(put("a"), 2, 3),
      h(get("a"), 4, 5),
      h(cas("a", "b", true), 6, 7),
      h(get("b"), 8, 9),
    ]).linearizable,
    true,
  );
  // The read overlaps the write, so it may see either value.
  assert.equal(checkHistory([h(put("a"), 0, 10), h(get(null), 1, 2), h(get("a"), 3, 4)]).linearizable, true);
  // Two concurrent CAS from the same value: exactly one may win.
  assert.equal(
    checkHistory([h(put("a"), 0, 1), h(cas("a", "b", true), 2, 5), h(cas("a", "c", false), 2, 5), h(get("b"), 6, 7)])
      .linearizable,
    true,
  );
});

test("a stale read after a completed write fails", () => {
  const r = checkHistory([h(put("a"), 0, 1), h(put("b"), 2, 3), h(get("a"), 4, 5)]);
  assert.equal(r.linearizable, false);
  assert.deepEqual(r.badKeys, ["k"]);
});

test("two CAS from the same value both succeeding fails", () => {
  assert.equal(
    checkHistory([h(put("a"), 0, 1), h(cas("a", "b", true), 2, 5), h(cas("a", "c", true), 2, 5)]).linearizable,
    false,
  );
});

test("a lost acknowledged write fails; a read going back in time fails", () => {
  assert.equal(checkHistory([h(put("a"), 0, 1), h(get(null), 2, 3)]).linearizable, false);
  assert.equal(checkHistory([h(put("a"), 0, 10), h(get("a"), 1, 2), h(get(null), 3, 4)]).linearizable, false);
});

test("unknown writes may or may not take effect, but not before they were invoked", () => {
  assert.equal(
    checkHistory([h(put("a"), 0, Number.POSITIVE_INFINITY), h(get(null), 1, 2), h(get("a"), 3, 4)]).linearizable,
    true,
  );
  assert.equal(checkHistory([h(put("a"), 0, Number.POSITIVE_INFINITY), h(get(null), 1, 2)]).linearizable, true);
  assert.equal(checkHistory([h(get("a"), 0, 1), h(put("a"), 2, Number.POSITIVE_INFINITY)]).linearizable, false);
  assert.equal(
    checkHistory([
      h(put("a"), 0, 1),
      h(cas("a", "b", undefined), 2, Number.POSITIVE_INFINITY),
      h(get("a"), 3, 4),
      h(get("b"), 5, 6),
    ]).linearizable,
    true,
  );
  assert.equal(
    checkHistory([
      h(put("a"), 0, 1),
      h(cas("a", "b", undefined), 2, Number.POSITIVE_INFINITY),
      h(get("b"), 3, 4),
      h(get("a"), 5, 6),
    ]).linearizable,
    false,
  );
});

test("keys are checked independently and the bad one is named", () => {
  const r = checkHistory([
    h(put("a", "x"), 0, 1),
    h(get("a", "x"), 2, 3),
    h(put("a", "y"), 0, 1),
    h(get(null, "y"), 2, 3),
  ]);
  assert.deepEqual(r.badKeys, ["y"]);
});

test("a long concurrent history from a real register is linearizable", () => {
  // Simulate an atomic register with 5 clients whose operations overlap at random; record real outcomes.
  let state: string | null = null;
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const history: HistoryOp[] = [];
  for (let i = 0; i < 300; i++) {
    const at = i * 10 + rand(10);
    const invoke = at - rand(25);
    const complete = at + rand(25);
    const r = rand(3);
    if (r === 0) {
      state = `v${i}`;
      history.push(h(put(state), invoke, complete));
    } else if (r === 1) history.push(h(get(state), invoke, complete));
    else {
      const expected = rand(2) === 0 ? state : "nope";
      const ok = state === expected;
      if (ok) state = `c${i}`;
      history.push(h(cas(expected, `c${i}`, ok), invoke, complete));
    }
  }
  assert.equal(checkHistory(history).linearizable, true);
  // The same history with one read changed to an older value is caught.
  const broken = history.map((x) => ({ ...x }));
  const idx = broken.findIndex((x, i) => i > 100 && x.op.kind === "get" && x.op.out !== null);
  const target = broken[idx];
  assert.ok(target !== undefined);
  broken[idx] = { ...target, op: { kind: "get", key: "k", out: "never-written" } };
  assert.equal(checkHistory(broken).linearizable, false);
});

test("the minimal bad sub-history keeps only the ops that make the violation", () => {
  const history = [
    h(put("a"), 0, 1),
    h(get("a"), 2, 3),
    h(put("b"), 4, 5),
    h(get("b"), 6, 7),
    h(put("c"), 8, Number.POSITIVE_INFINITY),
    h(get("a"), 9, 10),
  ];
  assert.deepEqual(minimalBadSubHistory(history), [h(put("a"), 0, 1), h(put("b"), 4, 5), h(get("a"), 9, 10)]);
  assert.equal(minimalBadSubHistory(history.slice(0, 5)), undefined);
  assert.match(describeOp(history[4] as HistoryOp), /^\[8\.0 \.\. \?\] - put k = "c"/);
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Entry, type Message, MessageType } from "../../src/raft/types.ts";
import { coalesceAppends } from "../../src/raft-node/coalesce.ts";

const entry = (index: number, term = 2): Entry => ({ index, term, type: "normal", data: new Uint8Array([index]) });

function app(index: number, logTerm: number, entries: Entry[], commit: number, over: Partial<Message> = {}): Message {
  return {
    type: MessageType.App,
    from: "n1",
    to: "n2",
    term: 2,
    logTerm,
    index,
    entries,
    commit,
    reject: false,
    rejectHint: 0,
    rejectHintTerm: 0,
    context: new Uint8Array(),
    ...over,
  };
}

describe("coalesceAppends", () => {
  it("merges appends that continue one another, keeping the first's anchor and the last commit", () => {
    const merged = coalesceAppends([
      app(10, 1, [entry(11)], 9),
      app(11, 2, [entry(12), entry(13)], 10),
      app(13, 2, [], 12),
      app(13, 2, [entry(14)], 12),
    ]);
    assert.equal(merged.length, 1);
    assert.equal(merged[0]?.index, 10);
    assert.equal(merged[0]?.logTerm, 1);
    assert.equal(merged[0]?.commit, 12);
    assert.deepEqual(
      merged[0]?.entries.map((e) => e.index),
      [11, 12, 13, 14],
    );
  });

  it("leaves alone what does not continue: a gap, another anchor term, another term or peer, anything between", () => {
    const heartbeat = { ...app(0, 0, [], 11), type: MessageType.Heartbeat };
    const cases: Message[][] = [
      [app(10, 1, [entry(11)], 9), app(12, 2, [entry(13)], 9)],
      [app(10, 1, [entry(11)], 9), app(11, 1, [entry(12)], 9)],
      [app(10, 1, [entry(11)], 9), app(11, 2, [entry(12, 3)], 9, { term: 3 })],
      [app(10, 1, [entry(11)], 9), app(11, 2, [entry(12)], 9, { to: "n3" })],
      [app(10, 1, [entry(11)], 9), heartbeat, app(11, 2, [entry(12)], 9)],
    ];
    for (const messages of cases) assert.deepEqual(coalesceAppends(messages), messages);
  });

  it("starts a new append once a merged one would pass the size cap", () => {
    const messages = [10, 11, 12, 13].map((i) => app(i, i === 10 ? 1 : 2, [entry(i + 1)], 9));
    const merged = coalesceAppends(messages, 2);
    assert.deepEqual(
      merged.map((m) => m.entries.map((e) => e.index)),
      [
        [11, 12],
        [13, 14],
      ],
    );
  });

  it("does not touch the messages it was given", () => {
    const first = app(10, 1, [entry(11)], 9);
    const second = app(11, 2, [entry(12)], 10);
    coalesceAppends([first, second, app(12, 2, [entry(13)], 11)]);
    assert.deepEqual(
      [first, second].map((m) => m.entries.map((e) => e.index)),
      [[11], [12]],
    );
    assert.deepEqual([first.commit, second.commit], [9, 10]);
  });
});

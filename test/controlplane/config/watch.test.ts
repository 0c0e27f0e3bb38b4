import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import { errorCode } from "../../../src/common/errors.ts";
import { HistoryCompactedError } from "../../../src/controlplane/config/errors.ts";
import { ConfigWatch, type WatchEnd, type WatchSink } from "../../../src/controlplane/config/watch.ts";
import type { ControlNode } from "../../../src/controlplane/node.ts";
import { type KvEvent, RevisionedKv } from "../../../src/controlplane/state/kv.ts";
import { storedFromText, storedText } from "../../../src/controlplane/state/value.ts";
import { Rng } from "../../sim/rng.ts";

const tick = () => new Promise((r) => setImmediate(r));

/** Just enough of a node for a watch: its KV, read at once. */
function kvNode(kv: RevisionedKv): ControlNode {
  return { kv, read: async (fn: (kv: RevisionedKv) => unknown) => fn(kv) } as unknown as ControlNode;
}

class RecordingSink implements WatchSink {
  log: string[] = [];
  events: { key: string; type: string; value?: string; revision: number }[] = [];
  start: number | undefined;
  end: WatchEnd | undefined;
  backlog = 0;
  started(revision: number): void {
    this.start = revision;
  }
  event(e: KvEvent): void {
    const key = e.key.slice("config/".length);
    this.events.push(
      e.type === "put"
        ? { key, type: "put", value: storedText(e.value), revision: e.revision }
        : { key, type: "delete", revision: e.revision },
    );
  }
  progress(revision: number): void {
    this.log.push(`progress ${revision}`);
  }
  buffered(): number {
    return this.backlog;
  }
  close(end: WatchEnd): void {
    this.end = end;
  }
}

interface ModelEvent {
  key: string;
  type: string;
  value?: string;
  revision: number;
}

test("from any kept revision a watch replays exactly the model's events, then follows the live ones (key and prefix)", async () => {
  for (let seed = 1; seed <= 8; seed++) {
    const rng = new Rng(seed);
    const kv = new RevisionedKv(200);
    const node = kvNode(kv);
    const model: ModelEvent[] = [];
    let revision = 0;
    const write = () => {
      revision += 1 + rng.intn(2);
      // app/a2 starts with app/a: a watch of the key app/a must not take it.
      const key = rng.pick(["app/a", "app/a2", "app/b", "other/c", "mesh/x"]) ?? "";
      if (key.startsWith("mesh/")) {
        kv.put(key, storedFromText("m"), revision);
        return;
      }
      const full = `config/${key}`;
      if (kv.get(full) !== undefined && rng.chance(0.3)) {
        kv.delete(full, revision);
        model.push({ key, type: "delete", revision });
      } else {
        const value = `v${revision}`;
        kv.put(full, storedFromText(value), revision);
        model.push({ key, type: "put", value, revision });
      }
    };
    for (let i = 0; i < 60; i++) write();
    const watches: { sink: RecordingSink; key: string; prefix: boolean; start: number; watch: ConfigWatch }[] = [];
    for (let i = 0; i < 6; i++) {
      const key = rng.pick(["app/a", "app/", "", "other/c"]) ?? "";
      const prefix = key === "" || key.endsWith("/");
      const start = Math.max(1, revision - rng.intn(40));
      const sink = new RecordingSink();
      const watch = await ConfigWatch.open(node, { key, prefix, start, consistency: "linearizable" }, sink, {
        deadlineMs: 1000,
        clock: new FakeClock(),
      });
      watch.attach();
      watches.push({ sink, key, prefix, start, watch });
    }
    for (let i = 0; i < 60; i++) {
      write();
      if (rng.chance(0.3)) await tick();
    }
    await tick();
    for (const w of watches) {
      const want = model.filter((e) => e.revision >= w.start && (w.prefix ? e.key.startsWith(w.key) : e.key === w.key));
      assert.deepEqual(w.sink.events, want, `seed ${seed}: watch ${w.key} prefix=${w.prefix} from ${w.start}`);
      assert.equal(w.sink.start, w.start - 1);
      w.watch.cancel();
    }
  }
});

test("a start in the compacted past is 410 with the compacted revision; one in the future is 400; the next revision is fine", async () => {
  const kv = new RevisionedKv(4);
  for (let r = 1; r <= 20; r++) kv.put("config/k", storedFromText(`v${r}`), r);
  const node = kvNode(kv);
  const open = (start: number | undefined) =>
    ConfigWatch.open(node, { key: "k", prefix: false, start, consistency: "stale" }, new RecordingSink(), {
      deadlineMs: 100,
    });
  const compacted = await open(2).catch((e: unknown) => e);
  assert.ok(compacted instanceof HistoryCompactedError);
  assert.equal(compacted.status, 410);
  assert.equal(compacted.compactedRevision, kv.compactedRevision);
  assert.ok(kv.compactedRevision > 2);
  // The first start still kept is accepted.
  (await open(kv.compactedRevision + 1)).cancel();
  assert.equal(errorCode(await open(22).catch((e: unknown) => e)), "ERR_FUTURE_REVISION");
  const next = await open(21);
  assert.equal(next.startRevision, 20);
  next.cancel();
  const now = await open(undefined);
  assert.equal(now.startRevision, 20);
  now.cancel();
  assert.equal(errorCode(await open(-1).catch((e: unknown) => e)), "ERR_BAD_REQUEST");
  assert.equal(
    errorCode(
      await ConfigWatch.open(
        node,
        { key: "bad key", prefix: false, start: undefined, consistency: "stale" },
        new RecordingSink(),
        {
          deadlineMs: 100,
        },
      ).catch((e: unknown) => e),
    ),
    "ERR_BAD_KEY",
  );
});

test("a slow watcher is cut between revisions, and a watch resumed after the reported revision has no gap and no repeat", async () => {
  const kv = new RevisionedKv();
  const node = kvNode(kv);
  const sink = new RecordingSink();
  const watch = await ConfigWatch.open(node, { key: "", prefix: true, start: undefined, consistency: "stale" }, sink, {
    deadlineMs: 100,
    maxBufferedBytes: 10,
  });
  watch.attach();
  // Two keys in one revision (one entry), then more.
  kv.put("config/a", storedFromText("1"), 1);
  kv.put("config/b", storedFromText("1"), 1);
  kv.put("config/a", storedFromText("2"), 2);
  kv.put("config/b", storedFromText("2"), 2);
  kv.put("config/a", storedFromText("3"), 3);
  // The transport's backlog grows after the first event: the cut must not split revision 1.
  const event = sink.event.bind(sink);
  sink.event = (e) => {
    event(e);
    sink.backlog = 100;
  };
  await tick();
  assert.deepEqual(
    sink.events.map((e) => `${e.key}@${e.revision}`),
    ["a@1", "b@1"],
  );
  assert.equal(sink.end?.code, "ERR_WATCH_SLOW");
  assert.equal(sink.end?.revision, 1);
  const resumed = new RecordingSink();
  const again = await ConfigWatch.open(
    node,
    { key: "", prefix: true, start: (sink.end?.revision ?? 0) + 1, consistency: "stale" },
    resumed,
    { deadlineMs: 100 },
  );
  again.attach();
  await tick();
  assert.deepEqual(
    [...sink.events, ...resumed.events].map((e) => `${e.key}@${e.revision}=${e.value}`),
    ["a@1=1", "b@1=1", "a@2=2", "b@2=2", "a@3=3"],
  );
  again.cancel();
});

test("an idle watch reports progress at the applied revision; a snapshot restored under it ends it as compacted", async () => {
  const kv = new RevisionedKv();
  const clock = new FakeClock();
  const sink = new RecordingSink();
  const watch = await ConfigWatch.open(
    kvNode(kv),
    { key: "app/k", prefix: false, start: undefined, consistency: "stale" },
    sink,
    { deadlineMs: 100, progressMs: 1_000, clock },
  );
  watch.attach();
  kv.put("mesh/other", storedFromText("x"), 7);
  clock.advance(1_000);
  assert.deepEqual(sink.log, ["progress 7"]);
  kv.restore([], 40);
  assert.equal(sink.end?.code, "ERR_COMPACTED");
  assert.equal(sink.end?.compactedRevision, 40);
  assert.equal(sink.end?.revision, 7);
  // Nothing after the end: the timer is gone.
  assert.equal(clock.pendingTimers(), 0);
});

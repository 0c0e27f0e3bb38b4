import assert from "node:assert/strict";
import { test } from "node:test";
import type { Entry, Snapshot } from "../../src/raft/types.ts";
import { DiskSnapshotStorage } from "../../src/raft-node/disk-snapshot-storage.ts";

const entries = (from: number, to: number): Entry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({
    term: 1,
    index: from + i,
    type: "normal",
    data: new Uint8Array(),
  }));

test("a snapshot's data is not kept: it is loaded, by its metadata, when the snapshot is asked for", () => {
  const loads: Snapshot["metadata"][] = [];
  const onDisk = new Map<number, Uint8Array>();
  const storage = new DiskSnapshotStorage((metadata) => {
    loads.push(metadata);
    const data = onDisk.get(metadata.index);
    if (data === undefined) throw new Error(`no snapshot file for ${metadata.index}`);
    return data;
  });
  assert.equal(storage.snapshot().metadata.index, 0, "no snapshot yet, nothing to load");
  assert.equal(loads.length, 0);

  storage.append(entries(1, 10));
  const created = storage.createSnapshot(8, { voters: ["a", "b", "c"], learners: [] }, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...created.data], [1, 2, 3], "the caller gets the data, to save it");
  onDisk.set(8, created.data.slice());
  assert.equal(loads.length, 0, "creating does not read back");
  assert.deepEqual(storage.snapshotMetadata(), {
    index: 8,
    term: 1,
    confState: { voters: ["a", "b", "c"], learners: [] },
  });
  assert.equal(loads.length, 0, "metadata alone does not load");

  const asked = storage.snapshot();
  assert.deepEqual([...asked.data], [1, 2, 3]);
  assert.deepEqual(
    loads.map((m) => m.index),
    [8],
  );

  const received: Snapshot = {
    metadata: { index: 20, term: 2, confState: { voters: ["a", "b"], learners: [] } },
    data: new Uint8Array([9]),
  };
  onDisk.set(20, received.data);
  storage.applySnapshot(received);
  assert.equal(storage.lastIndex(), 20);
  assert.deepEqual([...storage.snapshot().data], [9]);
  assert.deepEqual(
    loads.map((m) => m.index),
    [8, 20],
  );
});

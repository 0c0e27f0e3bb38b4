import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KvRecord } from "../../../src/controlplane/state/kv.ts";
import {
  decodeKvSnapshot,
  encodeKvSnapshot,
  SnapshotFormatError,
} from "../../../src/controlplane/state/snapshot-codec.ts";
import { storedBytes, storedFromBytes, storedFromText } from "../../../src/controlplane/state/value.ts";

const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
const records: [string, KvRecord][] = [
  ["config/a", { value: storedFromText("1"), revision: 7, createRevision: 3 }],
  ["config/ünïcödé/键", { value: storedFromText("värde ✓"), revision: 2 ** 40 + 1, createRevision: 2 ** 40 }],
  ["config/bytes", { value: storedFromBytes(everyByte), revision: 9, createRevision: 9 }],
  ["config/empty", { value: storedFromText(""), revision: 10, createRevision: 4 }],
];

describe("KV snapshot codec", () => {
  it("round-trips keys, any bytes and revisions", () => {
    const data = encodeKvSnapshot(2 ** 40 + 5, (cb) => {
      for (const [k, r] of records) cb(k, r);
    });
    const decoded = decodeKvSnapshot(data);
    assert.equal(decoded.revision, 2 ** 40 + 5);
    assert.deepEqual(decoded.records, records);
    assert.deepEqual(new Uint8Array(storedBytes(decoded.records[2]?.[1].value ?? storedFromText("x"))), everyByte);
  });

  it("decodes from a view into a larger buffer", () => {
    const data = encodeKvSnapshot(3, (cb) => {
      for (const [k, r] of records) cb(k, r);
    });
    const framed = Buffer.concat([Buffer.from("head"), data, Buffer.from("tail")]);
    assert.deepEqual(decodeKvSnapshot(framed.subarray(4, 4 + data.length)).records, records);
  });

  it("refuses another format, a truncated buffer and trailing bytes", () => {
    const data = encodeKvSnapshot(3, (cb) => {
      for (const [k, r] of records) cb(k, r);
    });
    assert.throws(() => decodeKvSnapshot(Buffer.from('{"revision":3}\n')), SnapshotFormatError);
    for (const cut of [13, 20, data.length - 1]) {
      assert.throws(() => decodeKvSnapshot(data.subarray(0, cut)), /truncated/, `cut at ${cut}`);
    }
    assert.throws(() => decodeKvSnapshot(Buffer.concat([data, Buffer.from([0])])), /1 bytes after the last record/);
  });
});

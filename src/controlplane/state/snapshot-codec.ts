import { MeshletError } from "../../common/errors.ts";
import type { KvRecord } from "./kv.ts";
import type { StoredValue } from "./value.ts";

/**
 * The state machine's snapshot: the KV as one binary buffer.
 *
 *   "MKV1" | f64 revision | u32 count | count × (u32 key length | key UTF-8 |
 *   u32 value length | value bytes | f64 revision | f64 create revision)
 *
 * Sized first and written in place: a node with 100,000 keys makes one
 * 10 MB allocation per snapshot rather than a string per key, their join and
 * its encoding, garbage that grows the heap a node keeps afterwards.
 * Revisions are Raft indexes, exact in a float64 up to 2^53.
 */
const MAGIC = Buffer.from("MKV1", "latin1");
const HEAD = MAGIC.length + 8 + 4;
const PER_RECORD = 4 + 4 + 8 + 8;

export class SnapshotFormatError extends MeshletError {
  constructor(message: string) {
    super("ERR_SNAPSHOT_FORMAT", `state machine snapshot: ${message}`);
    this.name = "SnapshotFormatError";
  }
}

/**
 * `forEachRecord` is called twice: once to size the buffer, once to fill it.
 * A callback, not an iterator: iterating a Map allocates a [key, value] pair
 * per record, 200,000 per snapshot at 100,000 keys, and the scavenges that
 * garbage caused while the buffer (~10 MB) was alive promoted it, so the
 * leader held it until the next full collection: seconds after a burst of
 * writes, which is when snapshots come (its external memory 16 MB -> 5 MB
 * 5 s after 100,000 writes).
 */
export function encodeKvSnapshot(
  revision: number,
  forEachRecord: (cb: (key: string, record: KvRecord) => void) => void,
): Buffer {
  let total = HEAD;
  let count = 0;
  forEachRecord((key, record) => {
    total += PER_RECORD + Buffer.byteLength(key, "utf8") + record.value.length;
    count++;
  });
  const buf = Buffer.allocUnsafeSlow(total);
  let off = MAGIC.copy(buf, 0);
  off = buf.writeDoubleLE(revision, off);
  off = buf.writeUInt32LE(count, off);
  forEachRecord((key, record) => {
    const keyLength = buf.write(key, off + 4, "utf8");
    off = buf.writeUInt32LE(keyLength, off) + keyLength;
    const valueLength = buf.write(record.value, off + 4, "latin1");
    off = buf.writeUInt32LE(valueLength, off) + valueLength;
    off = buf.writeDoubleLE(record.revision, off);
    off = buf.writeDoubleLE(record.createRevision, off);
  });
  return buf;
}

export function decodeKvSnapshot(data: Uint8Array): { revision: number; records: [string, KvRecord][] } {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new SnapshotFormatError("not a meshlet KV snapshot (bad magic)");
  }
  let off = MAGIC.length;
  const need = (n: number) => {
    if (off + n > buf.length) throw new SnapshotFormatError(`truncated at byte ${off}`);
  };
  need(HEAD - MAGIC.length);
  const revision = buf.readDoubleLE(off);
  const count = buf.readUInt32LE(off + 8);
  off += 12;
  const records: [string, KvRecord][] = [];
  for (let i = 0; i < count; i++) {
    need(4);
    const keyLength = buf.readUInt32LE(off);
    off += 4;
    need(keyLength + 4);
    const key = buf.toString("utf8", off, off + keyLength);
    off += keyLength;
    const valueLength = buf.readUInt32LE(off);
    off += 4;
    need(valueLength + 16);
    const value = buf.toString("latin1", off, off + valueLength) as StoredValue;
    off += valueLength;
    records.push([key, { value, revision: buf.readDoubleLE(off), createRevision: buf.readDoubleLE(off + 8) }]);
    off += 16;
  }
  if (off !== buf.length) throw new SnapshotFormatError(`${buf.length - off} bytes after the last record`);
  return { revision, records };
}

import assert from "node:assert/strict";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import { type Entry, EntryType } from "../../src/raft/types.ts";
import { MAX_ENTRY_BYTES, MAX_RECORD_BYTES, PROBE_FREE_BYTES, Wal, WalError } from "../../src/raft-node/wal.ts";

function tmpDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshlet-walf-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, "data");
}

const entry = (index: number, term = 1, data: Uint8Array = new TextEncoder().encode(`v${index}`)): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data,
});

function open(dir: string, extra: { segmentBytes?: number; warnings?: string[] } = {}) {
  return Wal.open({
    dir,
    nodeId: "n1",
    clusterId: "c1",
    logger: pino({ level: "warn" }, { write: (line: string) => extra.warnings?.push(line) }),
    ...(extra.segmentBytes === undefined ? {} : { segmentBytes: extra.segmentBytes }),
  });
}

const segments = (dir: string) =>
  fs
    .readdirSync(path.join(dir, "wal"))
    .sort()
    .map((f) => path.join(dir, "wal", f));
const walBytes = (dir: string) => segments(dir).reduce((n, f) => n + fs.statSync(f).size, 0);

type FsKey = "writeSync" | "fdatasync" | "openSync" | "statfsSync";
/**
 * Replaces one node:fs function for the WAL (which imports node:fs as a namespace; syncBuiltinESMExports
 * makes the namespace see the change) until the returned restore() runs.
 */
function inject<K extends FsKey>(key: K, replacement: (typeof fs)[K]): () => void {
  const original = fs[key];
  (fs as unknown as Record<string, unknown>)[key] = replacement;
  syncBuiltinESMExports();
  return () => {
    (fs as unknown as Record<string, unknown>)[key] = original;
    syncBuiltinESMExports();
  };
}
const enospc = () => Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });

test("a WAL record at the limit round-trips; one byte over is refused at write, and nothing is written", (t) => {
  const dir = tmpDir(t);
  const { wal } = open(dir);
  const atLimit = new Uint8Array(MAX_ENTRY_BYTES).fill(7);
  wal.save({ term: 1, vote: "n1", commit: 0 }, [entry(1, 1, atLimit)]);
  const before = walBytes(dir);
  assert.throws(
    () => wal.save(undefined, [entry(2, 1, new Uint8Array(MAX_ENTRY_BYTES + 1))]),
    (err: unknown) =>
      err instanceof WalError &&
      err.code === "ERR_RECORD_TOO_LARGE" &&
      err.message.includes(`${MAX_RECORD_BYTES + 1} bytes; the limit is ${MAX_RECORD_BYTES}`),
  );
  assert.equal(walBytes(dir), before, "nothing of the refused record reached the file");
  assert.equal(wal.broken, undefined, "a refused record leaves the log writable");
  wal.save(undefined, [entry(2)]);
  wal.close();
  const { recovered } = open(dir);
  assert.deepEqual(
    recovered.entries.map((e) => [e.index, e.data.length]),
    [
      [1, MAX_ENTRY_BYTES],
      [2, 2],
    ],
  );
  assert.ok(recovered.entries[0]?.data.every((b) => b === 7));
});

test("an unreadable record names its file, offset and the entry before it", (t) => {
  const dir = tmpDir(t);
  const { wal } = open(dir);
  wal.save({ term: 1, vote: "n1", commit: 0 }, [entry(1), entry(2), entry(3)]);
  wal.save(undefined, [entry(4)]);
  wal.close();
  const seg = segments(dir)[0] ?? "";
  const buf = fs.readFileSync(seg);
  const at = buf.indexOf("v3") - 8 - 18;
  // A length over the limit, as the 318 MB record of the issue had: followed by more records, so not a torn tail.
  buf.writeUInt32LE(MAX_RECORD_BYTES + 1, at);
  fs.writeFileSync(seg, buf);
  assert.throws(
    () => open(dir),
    (err: unknown) =>
      err instanceof WalError &&
      err.code === "ERR_WAL_CORRUPT" &&
      err.message.startsWith(
        `${seg} is corrupt at offset ${at}, after entry 2 (a record of ${MAX_RECORD_BYTES + 1} bytes`,
      ) &&
      err.message.includes("Recovering a node"),
  );
});

test("a write that fails half way: refused until rolled back, then the log is as at its last sync", (t) => {
  const dir = tmpDir(t);
  const warnings: string[] = [];
  const { wal } = open(dir, { warnings });
  wal.save({ term: 2, vote: "n1", commit: 1 }, [entry(1), entry(2)]);
  wal.save({ term: 2, vote: "n1", commit: 2 }, []); // commit only: written, not synced
  const synced = walBytes(dir);
  const restore = inject("writeSync", ((fd: number, buf: Uint8Array, off: number, len: number) => {
    // Half of the buffer reaches the file, then the disk is full.
    restore();
    fs.writeSync(fd, buf, off, Math.floor(len / 2), null);
    throw enospc();
  }) as unknown as typeof fs.writeSync);
  t.after(restore);
  assert.throws(
    () => wal.save({ term: 2, vote: "n1", commit: 2 }, [entry(3), entry(4)]),
    (err: unknown) => err instanceof WalError && err.code === "ERR_NO_SPACE" && /ENOSPC/.test(err.message),
  );
  assert.ok(walBytes(dir) > synced, "half a batch is in the file");
  assert.equal(wal.broken?.code, "ERR_NO_SPACE");
  assert.throws(() => wal.save(undefined, [entry(3)]), /not rolled back yet/);
  wal.rollback();
  assert.equal(wal.broken, undefined);
  assert.equal(wal.lastIndex, 2);
  wal.save(undefined, [entry(3, 2, new TextEncoder().encode("again"))]);
  wal.close();
  const { recovered } = open(dir, { warnings });
  assert.deepEqual(
    recovered.entries.map((e) => [e.index, new TextDecoder().decode(e.data)]),
    [
      [1, "v1"],
      [2, "v2"],
      [3, "again"],
    ],
  );
  assert.deepEqual(recovered.hardState, { term: 2, vote: "n1", commit: 1 }, "the unsynced commit went with it");
  assert.doesNotMatch(warnings.join(""), /torn/, "no half-written record left behind");
});

test("an fsync that fails is not retried: the batch is rolled back", async (t) => {
  const dir = tmpDir(t);
  const { wal } = open(dir);
  wal.save({ term: 1, vote: "n1", commit: 0 }, [entry(1)]);
  const restore = inject("fdatasync", ((_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
    setImmediate(() => cb(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" })));
  }) as typeof fs.fdatasync);
  t.after(restore);
  await assert.rejects(
    wal.saveAsync({ term: 1, vote: "n1", commit: 1 }, [entry(2), entry(3)]) ?? Promise.resolve(),
    (err: unknown) => err instanceof WalError && err.code === "ERR_DISK_IO" && /EIO/.test(err.message),
  );
  restore();
  wal.rollback();
  wal.close();
  assert.deepEqual(
    open(dir).recovered.entries.map((e) => e.index),
    [1],
  );
});

test("a segment that cannot be started leaves the synced log whole", (t) => {
  const dir = tmpDir(t);
  const { wal } = open(dir, { segmentBytes: 100 });
  wal.save({ term: 1, vote: "n1", commit: 0 }, [entry(1)]);
  const before = segments(dir);
  const realOpen = fs.openSync;
  const restore = inject("openSync", ((file: fs.PathLike, flags?: fs.OpenMode) => {
    if (String(file).endsWith(".wal")) throw enospc();
    return realOpen(file, flags ?? "r");
  }) as typeof fs.openSync);
  t.after(restore);
  // The batch is synced, then the cut to a new segment fails.
  assert.throws(() => wal.save(undefined, [entry(2, 1, new Uint8Array(200))]), /ENOSPC/);
  restore();
  assert.deepEqual(segments(dir), before, "no half-made segment");
  wal.rollback();
  wal.save(undefined, [entry(3)]);
  wal.close();
  assert.deepEqual(
    open(dir).recovered.entries.map((e) => e.index),
    [1, 2, 3],
  );
});

test("a snapshot's covered segments go only once the segment marking it is synced", async (t) => {
  const dir = tmpDir(t);
  const { wal } = open(dir, { segmentBytes: 150 });
  for (let i = 1; i <= 10; i++) wal.save({ term: 3, vote: "n1", commit: i - 1 }, [entry(i, 3)]);
  await wal.writeSnapshot({
    metadata: { index: 10, term: 3, confState: { voters: ["n1"], learners: [] } },
    data: new TextEncoder().encode("state@10"),
  });
  // The snapshot covers the whole log: every earlier segment could go, but the mark is not synced yet.
  wal.markSnapshot(10, 3);
  const restore = inject("writeSync", (() => {
    throw enospc();
  }) as typeof fs.writeSync);
  t.after(restore);
  assert.throws(() => wal.save(undefined, [entry(11, 3)]), /ENOSPC/);
  restore();
  wal.rollback();
  wal.close();
  const { recovered } = open(dir);
  assert.equal(recovered.snapshot?.metadata.index, 10);
  assert.deepEqual(recovered.hardState, { term: 3, vote: "n1", commit: 10 }, "term and vote survive the rollback");
});

test("probe: refuses while the data dir has less than its headroom free, passes once it has", (t) => {
  const dir = tmpDir(t);
  const { wal } = open(dir);
  const real = fs.statfsSync;
  const restore = inject("statfsSync", ((p: fs.PathLike) => ({
    ...real(p),
    bavail: 10,
    bsize: 4096,
  })) as unknown as typeof fs.statfsSync);
  t.after(restore);
  assert.throws(
    () => wal.probe(),
    (err: unknown) =>
      err instanceof WalError &&
      err.code === "ERR_NO_SPACE" &&
      err.message.includes(`40960 bytes free; writes resume once ${PROBE_FREE_BYTES} are`),
  );
  restore();
  wal.probe();
  assert.equal(fs.existsSync(path.join(dir, "probe.tmp")), false, "the probe file is gone");
  wal.close();
});

test("reload reads back exactly what open would", (t) => {
  const dir = tmpDir(t);
  const { wal } = open(dir, { segmentBytes: 100 });
  for (let i = 1; i <= 6; i++) wal.save({ term: 1, vote: "n1", commit: i - 1 }, [entry(i)]);
  const reloaded = wal.reload();
  wal.save(undefined, [entry(7)]);
  wal.close();
  const { recovered } = open(dir);
  assert.deepEqual(
    reloaded.entries.map((e) => e.index),
    [1, 2, 3, 4, 5, 6],
  );
  assert.deepEqual(
    recovered.entries.map((e) => e.index),
    [1, 2, 3, 4, 5, 6, 7],
  );
});

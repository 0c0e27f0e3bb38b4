import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import { type Entry, EntryType } from "../../src/raft/types.ts";
import { DataDirLockedError } from "../../src/raft-node/data-dir-lock.ts";
import { Wal, WalError } from "../../src/raft-node/wal.ts";
import { until } from "../controlplane/discovery/until.ts";

function tmpDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshlet-wal-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, "data");
}

function entry(index: number, term = 1, text = `v${index}`): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(text) };
}

const open = (dir: string, extra: { segmentBytes?: number; nodeId?: string; warnings?: string[] } = {}) =>
  Wal.open({
    dir,
    nodeId: extra.nodeId ?? "n1",
    clusterId: "c1",
    logger: pino({ level: "warn" }, { write: (line: string) => extra.warnings?.push(line) }),
    ...(extra.segmentBytes === undefined ? {} : { segmentBytes: extra.segmentBytes }),
  });

const segments = (dir: string) =>
  fs
    .readdirSync(path.join(dir, "wal"))
    .sort()
    .map((f) => path.join(dir, "wal", f));

test("entries and hard state survive a reopen; later entries overwrite a conflicting suffix", (t) => {
  const dir = tmpDir(t);
  const { wal, recovered } = open(dir);
  assert.equal(recovered.fresh, true);
  wal.save({ term: 1, vote: "n1", commit: 0 }, [entry(1), entry(2), entry(3)]);
  wal.save({ term: 2, vote: "n2", commit: 1 }, [entry(2, 2, "new2")]);
  wal.close();
  const again = open(dir);
  assert.equal(again.recovered.fresh, false);
  assert.deepEqual(again.recovered.hardState, { term: 2, vote: "n2", commit: 1 });
  assert.deepEqual(
    again.recovered.entries.map((e) => [e.index, e.term, new TextDecoder().decode(e.data)]),
    [
      [1, 1, "v1"],
      [2, 2, "new2"],
    ],
  );
  assert.equal(again.wal.lastIndex, 2);
  again.wal.close();
});

test("a torn tail is truncated with a warning and the node starts", (t) => {
  const dir = tmpDir(t);
  const { wal } = open(dir);
  wal.save({ term: 1, vote: "", commit: 2 }, [entry(1), entry(2), entry(3)]);
  wal.close();
  const seg = segments(dir).at(-1) ?? "";
  fs.truncateSync(seg, fs.statSync(seg).size - 5);
  const warnings: string[] = [];
  const again = open(dir, { warnings });
  assert.deepEqual(
    again.recovered.entries.map((e) => e.index),
    [1, 2, 3],
  );
  assert.match(warnings.join(), /torn/);
  again.wal.save(undefined, [entry(4)]);
  again.wal.close();
  assert.deepEqual(
    open(dir).recovered.entries.map((e) => e.index),
    [1, 2, 3, 4],
  );
});

test("a corrupted record before the tail refuses to start", (t) => {
  const dir = tmpDir(t);
  const { wal } = open(dir);
  wal.save(undefined, [entry(1, 1, "a".repeat(100))]);
  wal.save({ term: 1, vote: "", commit: 1 }, [entry(2), entry(3)]);
  wal.close();
  const seg = segments(dir).at(-1) ?? "";
  const buf = fs.readFileSync(seg);
  const at = buf.indexOf("aaaa");
  buf[at] = "b".charCodeAt(0);
  fs.writeFileSync(seg, buf);
  assert.throws(
    () => open(dir),
    (err: unknown) => err instanceof WalError && err.code === "ERR_WAL_CORRUPT",
  );
});

test("a data dir of another node or a non-empty foreign dir refuses to start", (t) => {
  const dir = tmpDir(t);
  open(dir).wal.close();
  assert.throws(
    () => open(dir, { nodeId: "n2" }),
    (err: unknown) => err instanceof WalError && err.code === "ERR_FOREIGN_DATA_DIR",
  );
  const foreign = tmpDir(t);
  fs.mkdirSync(foreign, { recursive: true });
  fs.writeFileSync(path.join(foreign, "something"), "x");
  assert.throws(
    () => open(foreign),
    (err: unknown) => err instanceof WalError && err.code === "ERR_FOREIGN_DATA_DIR",
  );
});

test("a snapshot written off the event loop while entries are saved, then marked, compacts the log", async (t) => {
  const dir = tmpDir(t);
  const { wal } = open(dir, { segmentBytes: 200 });
  for (let i = 1; i <= 30; i++) wal.save({ term: 1, vote: "n1", commit: i - 1 }, [entry(i)]);
  const before = segments(dir).length;
  const snap = {
    metadata: { index: 25, term: 1, confState: { voters: ["n1"], learners: [] } },
    data: new TextEncoder().encode("state@25"),
  };
  const writing = wal.writeSnapshot(snap);
  await wal.saveAsync({ term: 1, vote: "n1", commit: 30 }, [entry(31), entry(32)]);
  await writing;
  wal.markSnapshot(25, 1);
  assert.equal(segments(dir).length, before + 1, "nothing is deleted before the segment marking it is synced");
  await wal.saveAsync(undefined, [entry(33)]);
  await until("covered segments deleted", () => segments(dir).length < before);
  wal.close();
  const { recovered } = open(dir);
  assert.equal(recovered.snapshot?.metadata.index, 25);
  assert.equal(new TextDecoder().decode(recovered.snapshot?.data), "state@25");
  assert.deepEqual(
    recovered.entries.map((e) => e.index),
    [26, 27, 28, 29, 30, 31, 32, 33],
  );
  assert.deepEqual(recovered.hardState, { term: 1, vote: "n1", commit: 30 });
});

test("a crash between a snapshot's file and its mark recovers from the file, with commit at least its index", async (t) => {
  const dir = tmpDir(t);
  const { wal } = open(dir);
  // Commit-only changes are not synced: the last durable hard state says commit 3.
  wal.save({ term: 2, vote: "n1", commit: 3 }, [entry(1), entry(2), entry(3), entry(4, 2), entry(5, 2)]);
  await wal.writeSnapshot({
    metadata: { index: 4, term: 2, confState: { voters: ["n1"], learners: [] } },
    data: new TextEncoder().encode("state@4"),
  });
  wal.close();
  const { recovered } = open(dir);
  assert.equal(recovered.snapshot?.metadata.index, 4);
  assert.deepEqual(
    recovered.entries.map((e) => e.index),
    [5],
  );
  assert.deepEqual(recovered.hardState, { term: 2, vote: "n1", commit: 4 });
});

test("a snapshot received from the leader replaces the log", (t) => {
  const dir = tmpDir(t);
  const { wal } = open(dir);
  wal.save({ term: 1, vote: "", commit: 2 }, [entry(1), entry(2), entry(3, 1, "stale")]);
  const snap = {
    metadata: { index: 10, term: 3, confState: { voters: ["n1"], learners: [] } },
    data: new Uint8Array([1]),
  };
  wal.installSnapshot(snap, { term: 3, vote: "", commit: 10 });
  wal.save(undefined, [entry(11, 3)]);
  wal.close();
  const { recovered } = open(dir);
  assert.equal(recovered.snapshot?.metadata.index, 10);
  assert.deepEqual(
    recovered.entries.map((e) => e.index),
    [11],
  );
});

test("entries, term and vote changes are fsynced; a commit-only change is written without one", (t) => {
  const dir = tmpDir(t);
  let syncs = 0;
  const { wal } = Wal.open({
    dir,
    nodeId: "n1",
    clusterId: "c1",
    logger: pino({ level: "silent" }),
    onFsync: () => syncs++,
  });
  assert.equal(syncs, 1, "open syncs what it found (or made)");
  syncs = 0;
  wal.save({ term: 1, vote: "n1", commit: 0 }, [entry(1)]);
  assert.equal(syncs, 1);
  wal.save({ term: 1, vote: "n1", commit: 1 }, []);
  assert.equal(syncs, 1);
  wal.save({ term: 2, vote: "", commit: 1 }, []);
  assert.equal(syncs, 2);
  wal.save({ term: 2, vote: "n2", commit: 1 }, []);
  assert.equal(syncs, 3);
  wal.close();
  assert.deepEqual(open(dir).recovered.hardState, { term: 2, vote: "n2", commit: 1 });
});

test("one process per data dir: a live owner's lock refuses a second open; a dead one's is taken over", async (t) => {
  const dir = tmpDir(t);
  const { wal } = open(dir);
  wal.close();
  assert.equal(fs.existsSync(path.join(dir, "LOCK")), false, "close releases the lock");

  // A live process that is not this one holds it.
  const owner = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
  t.after(() => owner.kill("SIGKILL"));
  await once(owner, "spawn");
  fs.writeFileSync(path.join(dir, "LOCK"), `${owner.pid}\n`);
  assert.throws(
    () => open(dir),
    (err: Error) => err instanceof DataDirLockedError && err.message.includes(`process ${owner.pid}`),
  );
  assert.equal(fs.readFileSync(path.join(dir, "LOCK"), "utf8"), `${owner.pid}\n`, "the owner's lock is left alone");

  // The owner died without releasing it (kill -9): the next node starts.
  owner.kill("SIGKILL");
  await once(owner, "exit");
  const again = open(dir);
  assert.equal(fs.readFileSync(path.join(dir, "LOCK"), "utf8"), `${process.pid}\n`);
  again.wal.close();
});

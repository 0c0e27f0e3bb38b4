import * as fs from "node:fs";
import * as path from "node:path";
import { MeshletError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { type Entry, EntryType, type HardState, type Snapshot } from "../raft/types.ts";
import { crc32c } from "./crc32c.ts";
import { DataDirLock } from "./data-dir-lock.ts";

/**
 * On-disk layout of a node's data dir:
 *   meta.json                    {format, clusterId, nodeId}: refuses a dir of another cluster or node
 *   wal/<seq>-<firstIndex>.wal   segments of records: u32 length | u32 CRC-32C(payload) | payload
 *   snap/<index>-<term>.snap     u32 CRC-32C | u32 metadata length | metadata JSON | state machine data
 * Payload kinds: 1 entry (term f64, index f64, type u8, data), 2 hard state
 * (JSON), 3 snapshot mark (JSON {index, term, reset}). A segment is cut at
 * every snapshot and when it exceeds `segmentBytes`; a segment whose entries
 * are all covered by the newest snapshot is deleted.
 */
export const WAL_FORMAT = 1;
const HEADER = 8;
const KIND_ENTRY = 1;
const KIND_HARD_STATE = 2;
const KIND_SNAP_MARK = 3;
/** An entry payload's fixed part: kind, term, index, type. */
const ENTRY_HEAD = 18;
/**
 * The largest record payload, for the writer and the reader alike: a record
 * the node writes is always one it can read back. (The reader used to allow
 * 256 MiB and the writer anything, so a node that stored a 318 MB entry could
 * never start again.) Raft entries share the limit: MAX_ENTRY_BYTES.
 */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;
/** The largest entry data a record holds: the largest proposal a node accepts (raft-control-node.ts). */
export const MAX_ENTRY_BYTES = MAX_RECORD_BYTES - ENTRY_HEAD;
/** Free space the data dir needs before a node that ran out of it writes again (probe()). */
export const PROBE_FREE_BYTES = 1024 * 1024;
const PROBE_FILE = "probe.tmp";

export class WalError extends MeshletError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "WalError";
  }
}

/** errno codes that mean "no room": the disk or the user's quota is full. */
const NO_SPACE = new Set(["ENOSPC", "EDQUOT"]);

/**
 * A write, sync, truncate or delete in the data dir failed. ERR_NO_SPACE for
 * a full disk or quota, ERR_DISK_IO for anything else (EIO, EROFS, ...);
 * `errno` keeps the system's code.
 */
export class WalIoError extends WalError {
  readonly errno: string;
  constructor(what: string, err: unknown) {
    const errno = (err as NodeJS.ErrnoException)?.code ?? "EIO";
    super(NO_SPACE.has(errno) ? "ERR_NO_SPACE" : "ERR_DISK_IO", `${what}: ${errorText(err)}`, { cause: err });
    this.name = "WalIoError";
    this.errno = errno;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export interface WalOptions {
  dir: string;
  nodeId: string;
  clusterId: string;
  logger: Logger;
  /** Start a new segment once the current one is this large. */
  segmentBytes?: number;
  /** Called with the seconds each fsync took (for the histogram). */
  onFsync?: (seconds: number) => void;
}

export interface Recovered {
  hardState: HardState;
  snapshot: Snapshot | undefined;
  /** Entries after the snapshot, contiguous. */
  entries: Entry[];
  /** True when the data dir was created now. */
  fresh: boolean;
}

interface Segment {
  seq: number;
  firstIndex: number;
  file: string;
}

const EMPTY_HARD_STATE: HardState = { term: 0, vote: "", commit: 0 };

/** Where the log stood at its last successful sync: what a rollback() returns it to. */
interface SyncPoint {
  seq: number;
  size: number;
  lastIndex: number;
  hardState: HardState;
}

/**
 * The durable log. Writes are synchronous and each save() ends in one
 * fdatasync: the driver saves a whole Ready (many proposals) at once, which is
 * the group commit, and sends nothing that depends on it before save returns.
 *
 * A write, sync or segment cut that fails leaves the log "broken": every
 * further write is refused until rollback() has truncated it back to where it
 * stood at the last successful sync (deleting any segment begun since), so no
 * half-written record stays behind and nothing written after a failure lands
 * behind one. Writes that were not synced are dropped with it; nothing that
 * was acknowledged depended on them (see docs/control-plane.md, "Disk full").
 */
export class Wal {
  readonly #o: WalOptions;
  readonly #walDir: string;
  readonly #snapDir: string;
  readonly #segmentBytes: number;
  #segments: Segment[] = [];
  #fd = -1;
  #size = 0;
  #lastIndex = 0;
  /** The newest saved hard state; every new segment opens with it so older ones can be deleted. */
  #hardState: HardState = EMPTY_HARD_STATE;
  /**
   * A segment was created since the WAL dir was last synced: the next sync
   * syncs the dir too, before anything written to the new segment counts as
   * durable. A cut costs no fsync of its own on the event loop that way.
   */
  #dirDirty = false;
  #lock: DataDirLock | undefined;
  /** The log at its last successful sync. */
  #synced: SyncPoint = { seq: 0, size: 0, lastIndex: 0, hardState: EMPTY_HARD_STATE };
  /** Set by a failed write; cleared by rollback(). */
  #broken: WalError | undefined;
  /** A snapshot whose covered files are deleted once the segment marking it is synced. */
  #purgeAfterSync: number | undefined;

  private constructor(o: WalOptions) {
    this.#o = o;
    this.#walDir = path.join(o.dir, "wal");
    this.#snapDir = path.join(o.dir, "snap");
    this.#segmentBytes = o.segmentBytes ?? 64 * 1024 * 1024;
  }

  /** Opens (or creates) the data dir and replays it. Throws WalError when it must not start. */
  static open(o: WalOptions): { wal: Wal; recovered: Recovered } {
    const wal = new Wal(o);
    const fresh = wal.#claim();
    return { wal, recovered: { ...wal.#replay(), fresh } };
  }

  get lastIndex(): number {
    return this.#lastIndex;
  }

  /** Why writes are refused (a failed write not yet rolled back), or undefined. */
  get broken(): WalError | undefined {
    return this.#broken;
  }

  /**
   * Reads the log back from disk, as open() did: what a node rebuilds its Raft
   * state from after a storage failure, so that memory holds exactly what the
   * disk holds. Only on a log that is not broken.
   */
  reload(): Omit<Recovered, "fresh"> {
    this.#refuseIfBroken();
    this.#closeFd();
    return this.#replay();
  }

  /**
   * Undoes what was written since the last successful sync: segments begun
   * since are deleted, the synced one is truncated to its synced size, and
   * both are made durable. Leaves the log writable; throws (and stays broken)
   * when the disk refuses even that. A no-op on a log that is not broken.
   */
  rollback(): void {
    if (this.#broken === undefined) return;
    const to = this.#synced;
    this.#closeFd();
    try {
      for (const seg of segmentFiles(this.#walDir)) if (seg.seq > to.seq) fs.rmSync(seg.file, { force: true });
      this.#segments = this.#segments.filter((seg) => seg.seq <= to.seq);
      const last = this.#segments.at(-1);
      if (last === undefined || last.seq !== to.seq) throw new Error(`segment ${to.seq} is missing`);
      this.#fd = fs.openSync(last.file, "a");
      fs.ftruncateSync(this.#fd, to.size);
      fs.fdatasyncSync(this.#fd);
      fsyncDir(this.#walDir);
    } catch (err) {
      this.#closeFd();
      throw new WalIoError(`rolling ${this.#walDir} back to its last sync`, err);
    }
    this.#size = to.size;
    this.#lastIndex = to.lastIndex;
    this.#hardState = to.hardState;
    this.#dirDirty = false;
    this.#broken = undefined;
    this.#o.logger.warn(
      { segment: this.#segments.at(-1)?.file, size: to.size, lastIndex: to.lastIndex },
      "WAL rolled back to its last sync",
    );
  }

  /**
   * Whether the node may write again: rolls back a broken log, then needs
   * PROBE_FREE_BYTES free in the data dir and a small file written, synced and
   * deleted there. Throws a WalError saying what is still wrong.
   */
  probe(): void {
    this.rollback();
    let free: number;
    try {
      const st = fs.statfsSync(this.#o.dir);
      free = st.bavail * st.bsize;
    } catch (err) {
      throw new WalIoError(`reading the free space of ${this.#o.dir}`, err);
    }
    if (free < PROBE_FREE_BYTES) {
      throw new WalError(
        "ERR_NO_SPACE",
        `${this.#o.dir} has ${free} bytes free; writes resume once ${PROBE_FREE_BYTES} are`,
      );
    }
    const file = path.join(this.#o.dir, PROBE_FILE);
    try {
      const fd = fs.openSync(file, "w");
      try {
        writeAll(fd, Buffer.alloc(4096));
        fs.fdatasyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.rmSync(file);
    } catch (err) {
      fs.rmSync(file, { force: true });
      throw new WalIoError(`writing a probe file in ${this.#o.dir}`, err);
    }
  }

  /**
   * Appends entries (overwriting from the first one's index on replay) and the
   * hard state, then fsyncs once. A change of the commit index alone is
   * written but not synced (as etcd's MustSync): after a crash the leader
   * re-establishes it, while new entries, term and vote must never be lost.
   */
  save(hardState: HardState | undefined, entries: readonly Entry[]): void {
    if (this.#append(hardState, entries)) this.#sync();
    this.#maybeCut();
  }

  /** Every write refuses to start on a broken log: it would land after a record that may be half written. */
  #refuseIfBroken(): void {
    if (this.#broken !== undefined)
      throw new WalError(this.#broken.code, `the WAL failed and is not rolled back yet: ${this.#broken.message}`);
  }

  /** Records a failure: the log is broken until rollback(). Returns the error to throw. */
  #fail(what: string, err: unknown): WalError {
    const e = err instanceof WalError ? err : new WalIoError(what, err);
    this.#broken ??= e;
    return e;
  }

  /**
   * As save(), with the fsync on libuv's thread pool so the event loop keeps
   * serving (the leader's messages go out meanwhile). Undefined when nothing
   * needed a sync; otherwise resolves once the write is durable. No other
   * write may start before it settles.
   */
  saveAsync(hardState: HardState | undefined, entries: readonly Entry[]): Promise<void> | undefined {
    if (!this.#append(hardState, entries)) {
      this.#maybeCut();
      return undefined;
    }
    const fd = this.#fd;
    const t0 = process.hrtime.bigint();
    const dir = this.#dirDirty ? fsyncDirAsync(this.#walDir) : undefined;
    this.#dirDirty = false;
    const point = this.#point();
    const data = new Promise<void>((resolve, reject) => {
      fs.fdatasync(fd, (err) => {
        if (err !== null) return reject(err);
        this.#o.onFsync?.(Number(process.hrtime.bigint() - t0) / 1e9);
        resolve();
      });
    });
    return (dir === undefined ? data : Promise.all([data, dir])).then(
      () => {
        this.#syncedAt(point);
        this.#maybeCut();
      },
      (err: unknown) => {
        // The pages of a failed fsync may be marked clean without reaching the disk: never retry it, roll back.
        throw this.#fail(`syncing ${this.#segments.at(-1)?.file}`, err);
      },
    );
  }

  /** Where the log stands now. */
  #point(): SyncPoint {
    return {
      seq: this.#segments.at(-1)?.seq ?? 0,
      size: this.#size,
      lastIndex: this.#lastIndex,
      hardState: this.#hardState,
    };
  }

  /** `point` is durable: a rollback goes no further back, and the files a snapshot covers may go. */
  #syncedAt(point: SyncPoint): void {
    this.#synced = point;
    if (this.#purgeAfterSync !== undefined) {
      this.#purge(this.#purgeAfterSync);
      this.#purgeAfterSync = undefined;
    }
  }

  /** Writes entries and hard state; true when they must be synced. */
  #append(hardState: HardState | undefined, entries: readonly Entry[]): boolean {
    if (entries.length === 0 && hardState === undefined) return false;
    this.#refuseIfBroken();
    for (const e of entries) {
      // Refused before a byte is written: the log stays as it was.
      if (ENTRY_HEAD + e.data.length > MAX_RECORD_BYTES)
        throw new WalError(
          "ERR_RECORD_TOO_LARGE",
          `entry ${e.index} would be a WAL record of ${ENTRY_HEAD + e.data.length} bytes; the limit is ${MAX_RECORD_BYTES}`,
        );
    }
    const mustSync =
      entries.length > 0 ||
      (hardState !== undefined && (hardState.term !== this.#hardState.term || hardState.vote !== this.#hardState.vote));
    const hs = hardState === undefined ? undefined : encodeJson(KIND_HARD_STATE, hardState);
    // One buffer per write, frames encoded in place: a follower writes every entry it receives, and a
    // buffer or two per entry is native memory that piles up between the collections of a small heap.
    let total = hs === undefined ? 0 : HEADER + hs.length;
    for (const e of entries) total += HEADER + ENTRY_HEAD + e.data.length;
    const buf = Buffer.allocUnsafe(total);
    let off = 0;
    for (const e of entries) off = writeEntryFrame(buf, off, e);
    if (hs !== undefined) {
      hs.copy(buf, off + HEADER);
      off = sealFrame(buf, off, hs.length);
    }
    if (hardState !== undefined) this.#hardState = hardState;
    this.#write(buf);
    const last = entries.at(-1);
    if (last !== undefined) this.#lastIndex = last.index;
    return mustSync;
  }

  #maybeCut(): void {
    if (this.#size >= this.#segmentBytes) this.#cut(this.#lastIndex + 1);
  }

  /**
   * Writes a snapshot's file atomically on libuv's thread pool: at 10,000
   * entries between snapshots and thousands of writes per second, the
   * synchronous write and its fsyncs stopped every node's event loop for
   * 15-34 ms every second or two. Touches only the snapshot dir, so it may
   * run while entries are saved; markSnapshot() then records it in the log.
   */
  async writeSnapshot(snapshot: Snapshot): Promise<void> {
    const file = this.#snapshotFile(snapshot.metadata);
    try {
      await writeAtomicAsync(file, snapshotParts(snapshot));
    } catch (err) {
      throw new WalIoError(`writing ${file}`, err);
    }
  }

  /**
   * Records a snapshot written by writeSnapshot() (a local one, compacting the
   * log) and deletes the segments and snapshot files it covers. No fsync: the
   * mark becomes durable with the next save, and until then the snapshot file
   * alone is enough to recover from (see #recover). Not while a saveAsync()
   * is pending: it starts a new segment.
   */
  markSnapshot(index: number, term: number): void {
    this.#refuseIfBroken();
    this.#cut(this.#lastIndex + 1);
    this.#write(frame(encodeJson(KIND_SNAP_MARK, { index, term, reset: false })));
    // Not before the new segment is synced: until then a rollback (or a crash) may need the older ones.
    this.#purgeAfterSync = Math.max(this.#purgeAfterSync ?? 0, index);
  }

  /**
   * Installs a snapshot received from the leader: the log is replaced by it.
   * The file, its mark and the hard state are durable when this returns,
   * before the node applies the snapshot or answers for it.
   */
  installSnapshot(snapshot: Snapshot, hardState: HardState): void {
    this.#refuseIfBroken();
    const { index, term } = snapshot.metadata;
    const file = this.#snapshotFile(snapshot.metadata);
    try {
      writeAtomic(file, snapshotParts(snapshot));
    } catch (err) {
      throw this.#fail(`writing ${file}`, err);
    }
    try {
      this.#lastIndex = index;
      this.#hardState = hardState;
      this.#cut(index + 1);
      this.#write(frame(encodeJson(KIND_SNAP_MARK, { index, term, reset: true })));
      this.#sync();
    } catch (err) {
      // Without its mark the file would be taken for a local snapshot on top of the old log.
      fs.rmSync(file, { force: true });
      throw this.#fail(`installing snapshot ${index}`, err);
    }
    this.#purge(index);
  }

  close(): void {
    this.#closeFd();
    this.#lock?.release();
    this.#lock = undefined;
  }

  #closeFd(): void {
    if (this.#fd >= 0) {
      try {
        fs.closeSync(this.#fd);
      } catch {
        // A close that fails (EIO on some filesystems) leaves nothing for us to do with the descriptor.
      }
    }
    this.#fd = -1;
  }

  #write(buf: Buffer): void {
    try {
      writeAll(this.#fd, buf);
    } catch (err) {
      throw this.#fail(`writing ${this.#segments.at(-1)?.file}`, err);
    }
    this.#size += buf.length;
  }

  #sync(): void {
    const point = this.#point();
    try {
      const t0 = process.hrtime.bigint();
      fs.fdatasyncSync(this.#fd);
      this.#o.onFsync?.(Number(process.hrtime.bigint() - t0) / 1e9);
      if (this.#dirDirty) fsyncDir(this.#walDir);
    } catch (err) {
      throw this.#fail(`syncing ${this.#segments.at(-1)?.file}`, err);
    }
    this.#dirDirty = false;
    this.#syncedAt(point);
  }

  /**
   * Starts a new segment that opens with the current hard state, so older
   * segments can go. The old segment stays current until the new one holds its
   * first record: a cut that fails leaves the log as it was (and broken).
   */
  #cut(firstIndex: number): void {
    const prev = this.#segments.at(-1);
    const seq = (prev?.seq ?? 0) + 1;
    const file = path.join(this.#walDir, `${pad(seq)}-${pad(firstIndex)}.wal`);
    const head = frame(encodeJson(KIND_HARD_STATE, this.#hardState));
    let fd = -1;
    try {
      fd = fs.openSync(file, "a");
      writeAll(fd, head);
    } catch (err) {
      if (fd >= 0) fs.closeSync(fd);
      fs.rmSync(file, { force: true });
      throw this.#fail(`starting segment ${file}`, err);
    }
    this.#closeFd();
    this.#fd = fd;
    this.#size = head.length;
    this.#segments.push({ seq, firstIndex, file });
    this.#dirDirty = true;
  }

  /**
   * Deletes snapshots older than the newest and segments whose entries are all
   * at or below `index`, on libuv's thread pool (an unlink of a segment took
   * 2-12 ms) and without a sync: a deleted file that comes back after a crash
   * holds only what the snapshot covers, and recovery skips it.
   */
  #purge(index: number): void {
    const keep: Segment[] = [];
    const gone: string[] = [];
    this.#segments.forEach((s, i) => {
      const next = this.#segments[i + 1];
      if (next !== undefined && next.firstIndex - 1 <= index) gone.push(s.file);
      else keep.push(s);
    });
    this.#segments = keep;
    for (const f of snapshotFiles(this.#snapDir).slice(0, -1)) gone.push(path.join(this.#snapDir, f));
    for (const file of gone) {
      fs.rm(file, { force: true }, (err) => {
        if (err !== null)
          this.#o.logger.warn({ file, err: err.message }, "could not delete a file the snapshot covers");
      });
    }
  }

  /**
   * Checks that the data dir is this node's (or makes it), and takes its lock.
   * True when the dir was created now.
   */
  #claim(): boolean {
    const { dir, nodeId, clusterId } = this.#o;
    const metaFile = path.join(dir, "meta.json");
    let fresh = false;
    if (fs.existsSync(metaFile)) {
      let meta: { format?: unknown; nodeId?: unknown; clusterId?: unknown };
      try {
        meta = JSON.parse(fs.readFileSync(metaFile, "utf8")) as typeof meta;
      } catch {
        throw new WalError("ERR_DATA_DIR", `${metaFile} is unreadable; refusing to start on a damaged data dir`);
      }
      if (meta.format !== WAL_FORMAT)
        throw new WalError("ERR_DATA_DIR", `${dir} has data format ${String(meta.format)}, expected ${WAL_FORMAT}`);
      if (meta.nodeId !== nodeId || meta.clusterId !== clusterId) {
        throw new WalError(
          "ERR_FOREIGN_DATA_DIR",
          `${dir} belongs to node "${String(meta.nodeId)}" of cluster "${String(meta.clusterId)}", not node "${nodeId}" of cluster "${clusterId}"; refusing to start`,
        );
      }
    } else {
      if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
        throw new WalError(
          "ERR_FOREIGN_DATA_DIR",
          `${dir} is not empty and has no meta.json; refusing to start on a foreign data dir`,
        );
      }
      fs.mkdirSync(dir, { recursive: true });
      writeAtomic(metaFile, [Buffer.from(JSON.stringify({ format: WAL_FORMAT, clusterId, nodeId }))]);
      fresh = true;
    }
    this.#lock = DataDirLock.acquire(dir);
    fs.mkdirSync(this.#walDir, { recursive: true });
    fs.mkdirSync(this.#snapDir, { recursive: true });
    for (const f of fs.readdirSync(this.#snapDir)) if (f.endsWith(".tmp")) fs.rmSync(path.join(this.#snapDir, f));
    fs.rmSync(path.join(dir, PROBE_FILE), { force: true });
    return fresh;
  }

  /**
   * Reads the newest snapshot and every segment, trims a torn tail, and leaves
   * the last segment open for appends, synced: from here a rollback returns to
   * this state.
   */
  #replay(): Omit<Recovered, "fresh"> {
    const snapshot = this.#loadSnapshot();
    let base = snapshot?.metadata.index ?? 0;
    let hardState = EMPTY_HARD_STATE;
    let entries: Entry[] = [];
    this.#segments = segmentFiles(this.#walDir);
    this.#segments.forEach((seg, i) => {
      const replayed = this.#replaySegment(seg, i === this.#segments.length - 1, base, entries);
      entries = replayed.entries;
      base = replayed.base;
      hardState = replayed.hardState ?? hardState;
    });
    if (snapshot !== undefined && base > snapshot.metadata.index) {
      throw new WalError(
        "ERR_WAL_CORRUPT",
        `the log marks a snapshot at ${base} but the newest snapshot file is at ${snapshot.metadata.index}`,
      );
    }
    entries = entries.filter((e) => e.index > base);
    // A snapshot holds committed state only, but the hard state saying so may not have reached the disk before
    // a crash: markSnapshot() does not sync, and a commit index alone is never synced.
    if (snapshot !== undefined && hardState.commit < snapshot.metadata.index)
      hardState = { ...hardState, commit: snapshot.metadata.index };
    this.#lastIndex = entries.at(-1)?.index ?? base;
    this.#hardState = hardState;
    const last = this.#segments.at(-1);
    if (last === undefined) this.#cut(this.#lastIndex + 1);
    else {
      this.#fd = fs.openSync(last.file, "a");
      this.#size = fs.statSync(last.file).size;
    }
    this.#dirDirty = true;
    this.#sync();
    return { hardState, snapshot, entries };
  }

  /**
   * One segment's records on top of `entries` (the log after `base`). A bad
   * record names its file, offset and the entry it follows: the place to
   * restore from (docs/control-plane.md, "Recovering a node").
   */
  #replaySegment(
    seg: Segment,
    isLast: boolean,
    base: number,
    entries: Entry[],
  ): { entries: Entry[]; base: number; hardState: HardState | undefined } {
    let hardState: HardState | undefined;
    const buf = fs.readFileSync(seg.file);
    let off = 0;
    while (off < buf.length) {
      const bad = checkRecord(buf, off);
      if (bad !== undefined) {
        if (isLast && tornTail(buf, off)) {
          this.#o.logger.warn(
            { file: seg.file, offset: off, dropped: buf.length - off, reason: bad },
            "WAL tail is torn; truncating it",
          );
          fs.truncateSync(seg.file, off);
          break;
        }
        const after = entries.at(-1)?.index ?? base;
        throw new WalError(
          "ERR_WAL_CORRUPT",
          `${seg.file} is corrupt at offset ${off}, after entry ${after} (${bad}), before the end of the log; refusing to start rather than lose committed entries (see "Recovering a node" in docs/control-plane.md)`,
        );
      }
      const len = buf.readUInt32LE(off);
      const payload = buf.subarray(off + HEADER, off + HEADER + len);
      const at = off;
      off += HEADER + len;
      const kind = payload[0];
      if (kind === KIND_ENTRY) {
        const e = decodeEntry(payload);
        if (e.index <= base) continue;
        const first = entries[0]?.index ?? base + 1;
        if (e.index > first + entries.length) {
          throw new WalError(
            "ERR_WAL_CORRUPT",
            `${seg.file} has a gap at offset ${at}: entry ${e.index} after ${first + entries.length - 1}`,
          );
        }
        entries.length = e.index - first;
        entries.push(e);
      } else if (kind === KIND_HARD_STATE) {
        hardState = JSON.parse(payload.subarray(1).toString("utf8")) as HardState;
      } else if (kind === KIND_SNAP_MARK) {
        const mark = JSON.parse(payload.subarray(1).toString("utf8")) as { index: number; reset: boolean };
        if (mark.reset) entries = [];
        else entries = entries.filter((e) => e.index > mark.index);
        base = Math.max(base, mark.index);
      } else {
        throw new WalError(
          "ERR_WAL_CORRUPT",
          `${seg.file} has a record of unknown kind ${String(kind)} at offset ${at}, after entry ${entries.at(-1)?.index ?? base}`,
        );
      }
    }
    return { entries, base, hardState };
  }

  /**
   * The data of the snapshot saved with `metadata`, read back from its file:
   * it is needed again only to send a follower that fell behind the log, so
   * it is not kept in memory.
   */
  snapshotData(metadata: Snapshot["metadata"]): Uint8Array {
    return this.#readSnapshot(this.#snapshotFile(metadata)).data;
  }

  #loadSnapshot(): Snapshot | undefined {
    const newest = snapshotFiles(this.#snapDir).at(-1);
    return newest === undefined ? undefined : this.#readSnapshot(path.join(this.#snapDir, newest));
  }

  #snapshotFile({ index, term }: Snapshot["metadata"]): string {
    return path.join(this.#snapDir, `${pad(index)}-${pad(term)}.snap`);
  }

  /** A damaged snapshot file stops the node (at start, or when a follower needs it): its data is committed state. */
  #readSnapshot(file: string): Snapshot {
    const buf = fs.readFileSync(file);
    if (buf.length < 8 || buf.readUInt32LE(0) !== crc32c(buf.subarray(4))) {
      throw new WalError(
        "ERR_SNAPSHOT_CORRUPT",
        `${file} fails its checksum; the node stops rather than serve or send damaged state`,
      );
    }
    const metaLen = buf.readUInt32LE(4);
    const metadata = JSON.parse(buf.subarray(8, 8 + metaLen).toString("utf8")) as Snapshot["metadata"];
    return { metadata, data: buf.subarray(8 + metaLen) };
  }
}

function checkRecord(buf: Buffer, off: number): string | undefined {
  if (buf.length - off < HEADER) return "incomplete header";
  const len = buf.readUInt32LE(off);
  if (len === 0) return "a record of length 0";
  if (len > MAX_RECORD_BYTES) return `a record of ${len} bytes, over the limit of ${MAX_RECORD_BYTES}`;
  if (off + HEADER + len > buf.length) return "incomplete record";
  if (crc32c(buf.subarray(off + HEADER, off + HEADER + len)) !== buf.readUInt32LE(off + 4)) return "checksum mismatch";
  return undefined;
}

/**
 * A bad record is a torn tail when nothing valid can follow it: it runs past
 * the end of the file, or it is the last record (a write cut short), or all
 * that follows is zeros. A bad record followed by more data is corruption.
 */
function tornTail(buf: Buffer, off: number): boolean {
  if (buf.length - off < HEADER) return true;
  const len = buf.readUInt32LE(off);
  const end = off + HEADER + len;
  if (len > 0 && len <= MAX_RECORD_BYTES && end >= buf.length) return true;
  return buf.subarray(off).every((b) => b === 0);
}

function frame(payload: Buffer): Buffer {
  if (payload.length > MAX_RECORD_BYTES)
    throw new WalError("ERR_RECORD_TOO_LARGE", `a record of ${payload.length} bytes; the limit is ${MAX_RECORD_BYTES}`);
  const b = Buffer.allocUnsafe(HEADER + payload.length);
  payload.copy(b, HEADER);
  sealFrame(b, 0, payload.length);
  return b;
}

/** Writes an entry's frame at `off`; returns the offset after it. */
function writeEntryFrame(buf: Buffer, off: number, e: Entry): number {
  const p = off + HEADER;
  buf[p] = KIND_ENTRY;
  buf.writeDoubleLE(e.term, p + 1);
  buf.writeDoubleLE(e.index, p + 9);
  buf[p + 17] = e.type === EntryType.ConfChange ? 1 : 0;
  buf.set(e.data, p + ENTRY_HEAD);
  return sealFrame(buf, off, ENTRY_HEAD + e.data.length);
}

/** Fills in the header of the frame at `off` whose payload is already in place. */
function sealFrame(buf: Buffer, off: number, length: number): number {
  const p = off + HEADER;
  buf.writeUInt32LE(length, off);
  buf.writeUInt32LE(crc32c(buf.subarray(p, p + length)), off + 4);
  return p + length;
}

function decodeEntry(p: Buffer): Entry {
  return {
    term: p.readDoubleLE(1),
    index: p.readDoubleLE(9),
    type: p[17] === 1 ? EntryType.ConfChange : EntryType.Normal,
    data: new Uint8Array(p.subarray(18)),
  };
}

function encodeJson(kind: number, value: unknown): Buffer {
  return Buffer.concat([Buffer.from([kind]), Buffer.from(JSON.stringify(value))]);
}

function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off, null);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

function pad(n: number): string {
  return String(n).padStart(16, "0");
}

function segmentFiles(dir: string): Segment[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{16}-\d{16}\.wal$/.test(f))
    .sort()
    .map((f) => {
      const [seq, first] = f.slice(0, -4).split("-");
      return { seq: Number(seq), firstIndex: Number(first), file: path.join(dir, f) };
    });
}

function snapshotFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{16}-\d{16}\.snap$/.test(f))
    .sort();
}

/** temp file, fsync, rename, fsync dir: after a crash the file is either the old one or the whole new one. */
export function writeAtomic(file: string, parts: readonly Uint8Array[]): void {
  const tmp = `${file}.tmp`;
  try {
    const fd = fs.openSync(tmp, "w");
    try {
      for (const data of parts) writeAll(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(path.dirname(file));
}

/** As writeAtomic, on libuv's thread pool. A failed write leaves no temp file behind. */
async function writeAtomicAsync(file: string, parts: readonly Uint8Array[]): Promise<void> {
  const tmp = `${file}.tmp`;
  try {
    const fh = await fs.promises.open(tmp, "w");
    try {
      // An iterable of chunks: each is written whole, partial writes included.
      await fh.writeFile(parts);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
  await fsyncDirAsync(path.dirname(file));
}

async function fsyncDirAsync(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * A snapshot file's contents: CRC-32C, metadata length, metadata, data. The data can be tens of MB: it is
 * checksummed and written where it is, not copied into one buffer with the rest.
 */
function snapshotParts(snapshot: Snapshot): Uint8Array[] {
  const meta = Buffer.from(JSON.stringify(snapshot.metadata));
  const head = Buffer.concat([u32(meta.length), meta]);
  return [u32(crc32c(snapshot.data, crc32c(head))), head, snapshot.data];
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

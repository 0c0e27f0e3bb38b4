import { MemoryStorage } from "../raft/index.ts";
import type { ConfState, Snapshot } from "../raft/types.ts";
import type { Recovered, Wal } from "./wal.ts";

const NO_DATA = new Uint8Array();

/**
 * The core's in-memory log, holding only the metadata of its snapshot. The
 * data (the whole KV: ~10 MB at 100,000 keys) is in the WAL's snapshot file
 * and is read back from there when the core asks for it, which it does only to
 * send the snapshot to a follower that fell behind the log.
 */
export class DiskSnapshotStorage extends MemoryStorage {
  readonly #load: (metadata: Snapshot["metadata"]) => Uint8Array;

  /** `load` returns the data of the snapshot saved with `metadata` (it is saved before the storage learns of it). */
  constructor(load: (metadata: Snapshot["metadata"]) => Uint8Array) {
    super();
    this.#load = load;
  }

  /**
   * The log `wal` read back from disk. `applied` (a node rebuilding after a
   * storage failure) raises the commit index to what was applied: the last
   * durable hard state may be older (a commit index alone is never synced).
   */
  static fromWal(wal: Wal, recovered: Omit<Recovered, "fresh">, applied = 0): DiskSnapshotStorage {
    const storage = new DiskSnapshotStorage((metadata) => wal.snapshotData(metadata));
    if (recovered.snapshot !== undefined) storage.applySnapshot(recovered.snapshot);
    storage.append(recovered.entries);
    const hs = recovered.hardState;
    const commit = Math.min(Math.max(hs.commit, applied), storage.lastIndex());
    storage.setHardState(commit === hs.commit ? hs : { ...hs, commit });
    return storage;
  }

  override snapshot(): Snapshot {
    const metadata = this.snapshotMetadata();
    return metadata.index === 0 ? super.snapshot() : { metadata, data: this.#load(metadata) };
  }

  override applySnapshot(snap: Snapshot): void {
    super.applySnapshot({ metadata: snap.metadata, data: NO_DATA });
  }

  /** Returns the snapshot with its data, for the WAL to save; keeps only the metadata. */
  override createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    return { metadata: super.createSnapshot(index, confState, NO_DATA).metadata, data };
  }
}

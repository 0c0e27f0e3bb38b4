// Original file: proto/meshlet/raft/v1/raft.proto

import type { SnapshotMetadata as _meshlet_raft_v1_SnapshotMetadata, SnapshotMetadata__Output as _meshlet_raft_v1_SnapshotMetadata__Output } from '../../../meshlet/raft/v1/SnapshotMetadata.ts';

export interface Snapshot {
  'metadata'?: (_meshlet_raft_v1_SnapshotMetadata | null);
  'data'?: (Buffer | Uint8Array | string);
}

export interface Snapshot__Output {
  'metadata': (_meshlet_raft_v1_SnapshotMetadata__Output | null);
  'data': (Buffer);
}

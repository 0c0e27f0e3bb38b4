// Original file: proto/meshlet/raft/v1/raft.proto

import type { ConfState as _meshlet_raft_v1_ConfState, ConfState__Output as _meshlet_raft_v1_ConfState__Output } from '../../../meshlet/raft/v1/ConfState.ts';
import type { Long } from '@grpc/proto-loader';

export interface SnapshotMetadata {
  'index'?: (number | string | Long);
  'term'?: (number | string | Long);
  'confState'?: (_meshlet_raft_v1_ConfState | null);
}

export interface SnapshotMetadata__Output {
  'index': (number);
  'term': (number);
  'confState': (_meshlet_raft_v1_ConfState__Output | null);
}

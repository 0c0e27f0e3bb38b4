// Original file: proto/meshlet/raft/v1/raft.proto

import type { EntryType as _meshlet_raft_v1_EntryType, EntryType__Output as _meshlet_raft_v1_EntryType__Output } from '../../../meshlet/raft/v1/EntryType.ts';
import type { Long } from '@grpc/proto-loader';

export interface Entry {
  'term'?: (number | string | Long);
  'index'?: (number | string | Long);
  'type'?: (_meshlet_raft_v1_EntryType);
  'data'?: (Buffer | Uint8Array | string);
}

export interface Entry__Output {
  'term': (number);
  'index': (number);
  'type': (_meshlet_raft_v1_EntryType__Output);
  'data': (Buffer);
}

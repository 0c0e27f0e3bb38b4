// Original file: proto/meshlet/raft/v1/raft.proto

import type { Message as _meshlet_raft_v1_Message, Message__Output as _meshlet_raft_v1_Message__Output } from '../../../meshlet/raft/v1/Message.ts';
import type { Long } from '@grpc/proto-loader';

export interface SnapshotChunk {
  'clusterId'?: (string);
  'offset'?: (number | string | Long);
  'data'?: (Buffer | Uint8Array | string);
  'last'?: (boolean);
  'message'?: (_meshlet_raft_v1_Message | null);
}

export interface SnapshotChunk__Output {
  'clusterId': (string);
  'offset': (number);
  'data': (Buffer);
  'last': (boolean);
  'message': (_meshlet_raft_v1_Message__Output | null);
}

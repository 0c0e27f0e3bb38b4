// Original file: proto/meshlet/raft/v1/raft.proto

import type { Message as _meshlet_raft_v1_Message, Message__Output as _meshlet_raft_v1_Message__Output } from '../../../meshlet/raft/v1/Message.ts';

export interface MessageBatch {
  'clusterId'?: (string);
  'messages'?: (_meshlet_raft_v1_Message)[];
  'fromAddress'?: (string);
}

export interface MessageBatch__Output {
  'clusterId': (string);
  'messages': (_meshlet_raft_v1_Message__Output)[];
  'fromAddress': (string);
}

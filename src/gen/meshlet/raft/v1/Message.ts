// Original file: proto/meshlet/raft/v1/raft.proto

import type { MessageType as _meshlet_raft_v1_MessageType, MessageType__Output as _meshlet_raft_v1_MessageType__Output } from '../../../meshlet/raft/v1/MessageType.ts';
import type { Entry as _meshlet_raft_v1_Entry, Entry__Output as _meshlet_raft_v1_Entry__Output } from '../../../meshlet/raft/v1/Entry.ts';
import type { Snapshot as _meshlet_raft_v1_Snapshot, Snapshot__Output as _meshlet_raft_v1_Snapshot__Output } from '../../../meshlet/raft/v1/Snapshot.ts';
import type { Long } from '@grpc/proto-loader';

export interface Message {
  'type'?: (_meshlet_raft_v1_MessageType);
  'from'?: (string);
  'to'?: (string);
  'term'?: (number | string | Long);
  'logTerm'?: (number | string | Long);
  'index'?: (number | string | Long);
  'entries'?: (_meshlet_raft_v1_Entry)[];
  'commit'?: (number | string | Long);
  'snapshot'?: (_meshlet_raft_v1_Snapshot | null);
  'reject'?: (boolean);
  'rejectHint'?: (number | string | Long);
  'rejectHintTerm'?: (number | string | Long);
  'context'?: (Buffer | Uint8Array | string);
}

export interface Message__Output {
  'type': (_meshlet_raft_v1_MessageType__Output);
  'from': (string);
  'to': (string);
  'term': (number);
  'logTerm': (number);
  'index': (number);
  'entries': (_meshlet_raft_v1_Entry__Output)[];
  'commit': (number);
  'snapshot': (_meshlet_raft_v1_Snapshot__Output | null);
  'reject': (boolean);
  'rejectHint': (number);
  'rejectHintTerm': (number);
  'context': (Buffer);
}

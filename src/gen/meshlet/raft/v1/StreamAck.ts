// Original file: proto/meshlet/raft/v1/raft.proto

import type { Long } from '@grpc/proto-loader';

export interface StreamAck {
  'received'?: (number | string | Long);
}

export interface StreamAck__Output {
  'received': (number);
}

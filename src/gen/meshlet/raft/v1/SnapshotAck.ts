// Original file: proto/meshlet/raft/v1/raft.proto


export interface SnapshotAck {
  'ok'?: (boolean);
  'error'?: (string);
}

export interface SnapshotAck__Output {
  'ok': (boolean);
  'error': (string);
}

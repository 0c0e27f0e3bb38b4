// Original file: proto/meshlet/raft/v1/raft.proto


export interface ForwardRequest {
  'clusterId'?: (string);
  'data'?: (Buffer | Uint8Array | string);
  'confChange'?: (boolean);
}

export interface ForwardRequest__Output {
  'clusterId': (string);
  'data': (Buffer);
  'confChange': (boolean);
}

// Original file: proto/meshlet/raft/v1/raft.proto


export interface ForwardResponse {
  'ok'?: (boolean);
  'errorCode'?: (string);
  'errorMessage'?: (string);
  'leader'?: (string);
}

export interface ForwardResponse__Output {
  'ok': (boolean);
  'errorCode': (string);
  'errorMessage': (string);
  'leader': (string);
}

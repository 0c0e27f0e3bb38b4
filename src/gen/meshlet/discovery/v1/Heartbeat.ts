// Original file: proto/meshlet/discovery/v1/discovery.proto


export interface Heartbeat {
  'service'?: (string);
  'instance'?: (string);
}

export interface Heartbeat__Output {
  'service': (string);
  'instance': (string);
}

// Original file: proto/meshlet/discovery/v1/discovery.proto


export interface Deregister {
  'service'?: (string);
  'instance'?: (string);
}

export interface Deregister__Output {
  'service': (string);
  'instance': (string);
}

// Original file: proto/meshlet/discovery/v1/discovery.proto


export interface ListSidecarsResponse {
  'json'?: (string);
  'node'?: (string);
}

export interface ListSidecarsResponse__Output {
  'json': (string);
  'node': (string);
}

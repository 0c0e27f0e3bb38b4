// Original file: proto/meshlet/discovery/v1/discovery.proto


export interface ListSidecarsRequest {
  'configKey'?: (string);
}

export interface ListSidecarsRequest__Output {
  'configKey': (string);
}

// Original file: proto/meshlet/discovery/v1/discovery.proto


export interface Endpoint {
  'service'?: (string);
  'instance'?: (string);
  'address'?: (string);
  'port'?: (number);
  'labels'?: ({[key: string]: string});
  'weight'?: (number);
  'namespace'?: (string);
}

export interface Endpoint__Output {
  'service': (string);
  'instance': (string);
  'address': (string);
  'port': (number);
  'labels': ({[key: string]: string});
  'weight': (number);
  'namespace': (string);
}

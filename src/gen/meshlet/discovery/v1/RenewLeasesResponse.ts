// Original file: proto/meshlet/discovery/v1/discovery.proto


export interface RenewLeasesResponse {
  'unknown'?: (string)[];
  'leader'?: (boolean);
}

export interface RenewLeasesResponse__Output {
  'unknown': (string)[];
  'leader': (boolean);
}

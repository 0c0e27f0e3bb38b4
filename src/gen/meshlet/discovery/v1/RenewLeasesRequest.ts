// Original file: proto/meshlet/discovery/v1/discovery.proto


export interface RenewLeasesRequest {
  'leaseIds'?: (string)[];
}

export interface RenewLeasesRequest__Output {
  'leaseIds': (string)[];
}

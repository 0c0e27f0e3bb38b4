// Original file: proto/meshlet/discovery/v1/discovery.proto


export interface ListSidecarsRequest {
}

export interface ListSidecarsRequest__Output {
}

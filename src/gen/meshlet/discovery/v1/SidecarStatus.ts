// Original file: proto/meshlet/discovery/v1/discovery.proto


export interface SidecarStatus {
  'json'?: (string);
}

export interface SidecarStatus__Output {
  'json': (string);
}

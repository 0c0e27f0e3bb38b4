// Original file: proto/meshlet/discovery/v1/discovery.proto


export interface CertificateRequest {
  'csrPem'?: (string);
}

export interface CertificateRequest__Output {
  'csrPem': (string);
}

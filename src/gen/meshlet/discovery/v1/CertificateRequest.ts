// Original file: proto/meshlet/discovery/v1/discovery.proto

import type { Long } from '@grpc/proto-loader';

export interface CertificateRequest {
  'csrPem'?: (string);
  'requestId'?: (number | string | Long);
}

export interface CertificateRequest__Output {
  'csrPem': (string);
  'requestId': (number);
}

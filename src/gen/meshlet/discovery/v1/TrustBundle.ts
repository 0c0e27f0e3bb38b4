// Original file: proto/meshlet/discovery/v1/discovery.proto

import type { Long } from '@grpc/proto-loader';

export interface TrustBundle {
  'pem'?: (string);
  'revision'?: (number | string | Long);
  'trustDomain'?: (string);
  'identity'?: (string);
  'issuersPem'?: (string);
}

export interface TrustBundle__Output {
  'pem': (string);
  'revision': (number);
  'trustDomain': (string);
  'identity': (string);
  'issuersPem': (string);
}

// Original file: proto/meshlet/discovery/v1/discovery.proto

import type { Long } from '@grpc/proto-loader';

export interface Nack {
  'version'?: (number | string | Long);
  'nonce'?: (string);
  'error'?: (string);
}

export interface Nack__Output {
  'version': (number);
  'nonce': (string);
  'error': (string);
}

// Original file: proto/meshlet/discovery/v1/discovery.proto

import type { Long } from '@grpc/proto-loader';

export interface Ack {
  'version'?: (number | string | Long);
  'nonce'?: (string);
}

export interface Ack__Output {
  'version': (number);
  'nonce': (string);
}

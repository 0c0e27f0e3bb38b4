// Original file: proto/meshlet/discovery/v1/discovery.proto

import type { Long } from '@grpc/proto-loader';

export interface RegisterResponse {
  'revision'?: (number | string | Long);
}

export interface RegisterResponse__Output {
  'revision': (number);
}

// Original file: proto/meshlet/discovery/v1/discovery.proto

import type { Long } from '@grpc/proto-loader';

export interface ConfigAck {
  'revision'?: (number | string | Long);
}

export interface ConfigAck__Output {
  'revision': (number);
}

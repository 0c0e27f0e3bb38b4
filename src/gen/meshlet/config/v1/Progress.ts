// Original file: proto/meshlet/config/v1/config.proto

import type { Long } from '@grpc/proto-loader';

export interface Progress {
  'revision'?: (number | string | Long);
}

export interface Progress__Output {
  'revision': (number);
}

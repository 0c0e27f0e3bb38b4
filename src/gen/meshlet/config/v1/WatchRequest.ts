// Original file: proto/meshlet/config/v1/config.proto

import type { Long } from '@grpc/proto-loader';

export interface WatchRequest {
  'key'?: (string);
  'prefix'?: (boolean);
  'startRevision'?: (number | string | Long);
  'stale'?: (boolean);
}

export interface WatchRequest__Output {
  'key': (string);
  'prefix': (boolean);
  'startRevision': (number);
  'stale': (boolean);
}

// Original file: proto/meshlet/config/v1/config.proto

import type { Long } from '@grpc/proto-loader';

export interface Cancelled {
  'code'?: (string);
  'message'?: (string);
  'revision'?: (number | string | Long);
  'compactedRevision'?: (number | string | Long);
}

export interface Cancelled__Output {
  'code': (string);
  'message': (string);
  'revision': (number);
  'compactedRevision': (number);
}

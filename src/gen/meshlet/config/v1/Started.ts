// Original file: proto/meshlet/config/v1/config.proto

import type { Long } from '@grpc/proto-loader';

export interface Started {
  'revision'?: (number | string | Long);
  'compactedRevision'?: (number | string | Long);
}

export interface Started__Output {
  'revision': (number);
  'compactedRevision': (number);
}

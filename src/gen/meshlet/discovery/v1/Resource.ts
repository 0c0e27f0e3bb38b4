// Original file: proto/meshlet/discovery/v1/discovery.proto

import type { Long } from '@grpc/proto-loader';

export interface Resource {
  'kind'?: (string);
  'name'?: (string);
  'revision'?: (number | string | Long);
  'json'?: (string);
}

export interface Resource__Output {
  'kind': (string);
  'name': (string);
  'revision': (number);
  'json': (string);
}

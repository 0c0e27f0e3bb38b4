// Original file: proto/meshlet/discovery/v1/discovery.proto

import type { Long } from '@grpc/proto-loader';

export interface ConfigEntry {
  'key'?: (string);
  'value'?: (Buffer | Uint8Array | string);
  'revision'?: (number | string | Long);
  'release'?: (string);
}

export interface ConfigEntry__Output {
  'key': (string);
  'value': (Buffer);
  'revision': (number);
  'release': (string);
}

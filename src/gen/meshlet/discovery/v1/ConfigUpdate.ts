// Original file: proto/meshlet/discovery/v1/discovery.proto

import type { ConfigEntry as _meshlet_discovery_v1_ConfigEntry, ConfigEntry__Output as _meshlet_discovery_v1_ConfigEntry__Output } from '../../../meshlet/discovery/v1/ConfigEntry.ts';
import type { Long } from '@grpc/proto-loader';

export interface ConfigUpdate {
  'revision'?: (number | string | Long);
  'full'?: (boolean);
  'entries'?: (_meshlet_discovery_v1_ConfigEntry)[];
  'removed'?: (string)[];
  'keys'?: (string)[];
  'prefixes'?: (string)[];
  'reset'?: (boolean);
}

export interface ConfigUpdate__Output {
  'revision': (number);
  'full': (boolean);
  'entries': (_meshlet_discovery_v1_ConfigEntry__Output)[];
  'removed': (string)[];
  'keys': (string)[];
  'prefixes': (string)[];
  'reset': (boolean);
}

// Original file: proto/meshlet/config/v1/config.proto

import type { Long } from '@grpc/proto-loader';

// Original file: proto/meshlet/config/v1/config.proto

export const _meshlet_config_v1_Event_Type = {
  PUT: 'PUT',
  DELETE: 'DELETE',
} as const;

export type _meshlet_config_v1_Event_Type =
  | 'PUT'
  | 0
  | 'DELETE'
  | 1

export type _meshlet_config_v1_Event_Type__Output = typeof _meshlet_config_v1_Event_Type[keyof typeof _meshlet_config_v1_Event_Type]

export interface Event {
  'type'?: (_meshlet_config_v1_Event_Type);
  'key'?: (string);
  'value'?: (Buffer | Uint8Array | string);
  'revision'?: (number | string | Long);
}

export interface Event__Output {
  'type': (_meshlet_config_v1_Event_Type__Output);
  'key': (string);
  'value': (Buffer);
  'revision': (number);
}

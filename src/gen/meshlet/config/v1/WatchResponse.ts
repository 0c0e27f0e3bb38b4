// Original file: proto/meshlet/config/v1/config.proto

import type { Started as _meshlet_config_v1_Started, Started__Output as _meshlet_config_v1_Started__Output } from '../../../meshlet/config/v1/Started.ts';
import type { Events as _meshlet_config_v1_Events, Events__Output as _meshlet_config_v1_Events__Output } from '../../../meshlet/config/v1/Events.ts';
import type { Progress as _meshlet_config_v1_Progress, Progress__Output as _meshlet_config_v1_Progress__Output } from '../../../meshlet/config/v1/Progress.ts';
import type { Cancelled as _meshlet_config_v1_Cancelled, Cancelled__Output as _meshlet_config_v1_Cancelled__Output } from '../../../meshlet/config/v1/Cancelled.ts';

export interface WatchResponse {
  'started'?: (_meshlet_config_v1_Started | null);
  'events'?: (_meshlet_config_v1_Events | null);
  'progress'?: (_meshlet_config_v1_Progress | null);
  'cancelled'?: (_meshlet_config_v1_Cancelled | null);
  'kind'?: "started"|"events"|"progress"|"cancelled";
}

export interface WatchResponse__Output {
  'started'?: (_meshlet_config_v1_Started__Output | null);
  'events'?: (_meshlet_config_v1_Events__Output | null);
  'progress'?: (_meshlet_config_v1_Progress__Output | null);
  'cancelled'?: (_meshlet_config_v1_Cancelled__Output | null);
  'kind'?: "started"|"events"|"progress"|"cancelled";
}

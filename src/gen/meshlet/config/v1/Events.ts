// Original file: proto/meshlet/config/v1/config.proto

import type { Event as _meshlet_config_v1_Event, Event__Output as _meshlet_config_v1_Event__Output } from '../../../meshlet/config/v1/Event.ts';

export interface Events {
  'events'?: (_meshlet_config_v1_Event)[];
}

export interface Events__Output {
  'events': (_meshlet_config_v1_Event__Output)[];
}

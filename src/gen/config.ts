import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { Cancelled as _meshlet_config_v1_Cancelled, Cancelled__Output as _meshlet_config_v1_Cancelled__Output } from './meshlet/config/v1/Cancelled.ts';
import type { ConfigClient as _meshlet_config_v1_ConfigClient, ConfigDefinition as _meshlet_config_v1_ConfigDefinition } from './meshlet/config/v1/Config.ts';
import type { Event as _meshlet_config_v1_Event, Event__Output as _meshlet_config_v1_Event__Output } from './meshlet/config/v1/Event.ts';
import type { Events as _meshlet_config_v1_Events, Events__Output as _meshlet_config_v1_Events__Output } from './meshlet/config/v1/Events.ts';
import type { Progress as _meshlet_config_v1_Progress, Progress__Output as _meshlet_config_v1_Progress__Output } from './meshlet/config/v1/Progress.ts';
import type { Started as _meshlet_config_v1_Started, Started__Output as _meshlet_config_v1_Started__Output } from './meshlet/config/v1/Started.ts';
import type { WatchRequest as _meshlet_config_v1_WatchRequest, WatchRequest__Output as _meshlet_config_v1_WatchRequest__Output } from './meshlet/config/v1/WatchRequest.ts';
import type { WatchResponse as _meshlet_config_v1_WatchResponse, WatchResponse__Output as _meshlet_config_v1_WatchResponse__Output } from './meshlet/config/v1/WatchResponse.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  meshlet: {
    config: {
      v1: {
        Cancelled: MessageTypeDefinition<_meshlet_config_v1_Cancelled, _meshlet_config_v1_Cancelled__Output>
        Config: SubtypeConstructor<typeof grpc.Client, _meshlet_config_v1_ConfigClient> & { service: _meshlet_config_v1_ConfigDefinition }
        Event: MessageTypeDefinition<_meshlet_config_v1_Event, _meshlet_config_v1_Event__Output>
        Events: MessageTypeDefinition<_meshlet_config_v1_Events, _meshlet_config_v1_Events__Output>
        Progress: MessageTypeDefinition<_meshlet_config_v1_Progress, _meshlet_config_v1_Progress__Output>
        Started: MessageTypeDefinition<_meshlet_config_v1_Started, _meshlet_config_v1_Started__Output>
        WatchRequest: MessageTypeDefinition<_meshlet_config_v1_WatchRequest, _meshlet_config_v1_WatchRequest__Output>
        WatchResponse: MessageTypeDefinition<_meshlet_config_v1_WatchResponse, _meshlet_config_v1_WatchResponse__Output>
      }
    }
  }
}


// Original file: proto/meshlet/config/v1/config.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { WatchRequest as _meshlet_config_v1_WatchRequest, WatchRequest__Output as _meshlet_config_v1_WatchRequest__Output } from '../../../meshlet/config/v1/WatchRequest.ts';
import type { WatchResponse as _meshlet_config_v1_WatchResponse, WatchResponse__Output as _meshlet_config_v1_WatchResponse__Output } from '../../../meshlet/config/v1/WatchResponse.ts';

export interface ConfigClient extends grpc.Client {
  Watch(argument: _meshlet_config_v1_WatchRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_meshlet_config_v1_WatchResponse__Output>;
  Watch(argument: _meshlet_config_v1_WatchRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_meshlet_config_v1_WatchResponse__Output>;
  watch(argument: _meshlet_config_v1_WatchRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_meshlet_config_v1_WatchResponse__Output>;
  watch(argument: _meshlet_config_v1_WatchRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_meshlet_config_v1_WatchResponse__Output>;
  
}

export interface ConfigHandlers extends grpc.UntypedServiceImplementation {
  Watch: grpc.handleServerStreamingCall<_meshlet_config_v1_WatchRequest__Output, _meshlet_config_v1_WatchResponse>;
  
}

export interface ConfigDefinition extends grpc.ServiceDefinition {
  Watch: MethodDefinition<_meshlet_config_v1_WatchRequest, _meshlet_config_v1_WatchResponse, _meshlet_config_v1_WatchRequest__Output, _meshlet_config_v1_WatchResponse__Output>
}

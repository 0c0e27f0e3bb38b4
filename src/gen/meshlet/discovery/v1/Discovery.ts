// Original file: proto/meshlet/discovery/v1/discovery.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { Deregister as _meshlet_discovery_v1_Deregister, Deregister__Output as _meshlet_discovery_v1_Deregister__Output } from '../../../meshlet/discovery/v1/Deregister.ts';
import type { DiscoveryRequest as _meshlet_discovery_v1_DiscoveryRequest, DiscoveryRequest__Output as _meshlet_discovery_v1_DiscoveryRequest__Output } from '../../../meshlet/discovery/v1/DiscoveryRequest.ts';
import type { DiscoveryResponse as _meshlet_discovery_v1_DiscoveryResponse, DiscoveryResponse__Output as _meshlet_discovery_v1_DiscoveryResponse__Output } from '../../../meshlet/discovery/v1/DiscoveryResponse.ts';
import type { ListSidecarsRequest as _meshlet_discovery_v1_ListSidecarsRequest, ListSidecarsRequest__Output as _meshlet_discovery_v1_ListSidecarsRequest__Output } from '../../../meshlet/discovery/v1/ListSidecarsRequest.ts';
import type { ListSidecarsResponse as _meshlet_discovery_v1_ListSidecarsResponse, ListSidecarsResponse__Output as _meshlet_discovery_v1_ListSidecarsResponse__Output } from '../../../meshlet/discovery/v1/ListSidecarsResponse.ts';
import type { Register as _meshlet_discovery_v1_Register, Register__Output as _meshlet_discovery_v1_Register__Output } from '../../../meshlet/discovery/v1/Register.ts';
import type { RegisterResponse as _meshlet_discovery_v1_RegisterResponse, RegisterResponse__Output as _meshlet_discovery_v1_RegisterResponse__Output } from '../../../meshlet/discovery/v1/RegisterResponse.ts';
import type { RenewLeasesRequest as _meshlet_discovery_v1_RenewLeasesRequest, RenewLeasesRequest__Output as _meshlet_discovery_v1_RenewLeasesRequest__Output } from '../../../meshlet/discovery/v1/RenewLeasesRequest.ts';
import type { RenewLeasesResponse as _meshlet_discovery_v1_RenewLeasesResponse, RenewLeasesResponse__Output as _meshlet_discovery_v1_RenewLeasesResponse__Output } from '../../../meshlet/discovery/v1/RenewLeasesResponse.ts';

export interface DiscoveryClient extends grpc.Client {
  DeregisterInstance(argument: _meshlet_discovery_v1_Deregister, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_discovery_v1_RegisterResponse__Output>): grpc.ClientUnaryCall;
  DeregisterInstance(argument: _meshlet_discovery_v1_Deregister, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshlet_discovery_v1_RegisterResponse__Output>): grpc.ClientUnaryCall;
  DeregisterInstance(argument: _meshlet_discovery_v1_Deregister, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_discovery_v1_RegisterResponse__Output>): grpc.ClientUnaryCall;
  DeregisterInstance(argument: _meshlet_discovery_v1_Deregister, callback: grpc.requestCallback<_meshlet_discovery_v1_RegisterResponse__Output>): grpc.ClientUnaryCall;
  deregisterInstance(argument: _meshlet_discovery_v1_Deregister, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_discovery_v1_RegisterResponse__Output>): grpc.ClientUnaryCall;
  deregisterInstance(argument: _meshlet_discovery_v1_Deregister, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshlet_discovery_v1_RegisterResponse__Output>): grpc.ClientUnaryCall;
  deregisterInstance(argument: _meshlet_discovery_v1_Deregister, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_discovery_v1_RegisterResponse__Output>): grpc.ClientUnaryCall;
  deregisterInstance(argument: _meshlet_discovery_v1_Deregister, callback: grpc.requestCallback<_meshlet_discovery_v1_RegisterResponse__Output>): grpc.ClientUnaryCall;
  
  ListSidecars(argument: _meshlet_discovery_v1_ListSidecarsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_discovery_v1_ListSidecarsResponse__Output>): grpc.ClientUnaryCall;
  ListSidecars(argument: _meshlet_discovery_v1_ListSidecarsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshlet_discovery_v1_ListSidecarsResponse__Output>): grpc.ClientUnaryCall;
  ListSidecars(argument: _meshlet_discovery_v1_ListSidecarsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_discovery_v1_ListSidecarsResponse__Output>): grpc.ClientUnaryCall;
  ListSidecars(argument: _meshlet_discovery_v1_ListSidecarsRequest, callback: grpc.requestCallback<_meshlet_discovery_v1_ListSidecarsResponse__Output>): grpc.ClientUnaryCall;
  listSidecars(argument: _meshlet_discovery_v1_ListSidecarsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_discovery_v1_ListSidecarsResponse__Output>): grpc.ClientUnaryCall;
  listSidecars(argument: _meshlet_discovery_v1_ListSidecarsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshlet_discovery_v1_ListSidecarsResponse__Output>): grpc.ClientUnaryCall;
  listSidecars(argument: _meshlet_discovery_v1_ListSidecarsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_discovery_v1_ListSidecarsResponse__Output>): grpc.ClientUnaryCall;
  listSidecars(argument: _meshlet_discovery_v1_ListSidecarsRequest, callback: grpc.requestCallback<_meshlet_discovery_v1_ListSidecarsResponse__Output>): grpc.ClientUnaryCall;
  
  RegisterInstance(argument: _meshlet_discovery_v1_Register, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_discovery_v1_RegisterResponse__Output>): grpc.ClientUnaryCall;
  RegisterInstance(argument: _meshlet_discovery_v1_Register, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshlet_discovery_v1_RegisterResponse__Output>): grpc.ClientUnaryCall;
  RegisterInstance(argument: _meshlet_discovery_v1_Register, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_discovery_v1_RegisterResponse__Output>): grpc.ClientUnaryCall;
  RegisterInstance(argument: _meshlet_discovery_v1_Register, callback: grpc.requestCallback<_meshlet_discovery_v1_RegisterResponse__Output>): grpc.ClientUnaryCall;
  registerInstance(argument: _meshlet_discovery_v1_Register, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_discovery_v1_RegisterResponse__Output>): grpc.ClientUnaryCall;
  registerInstance(argument: _meshlet_discovery_v1_Register, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshlet_discovery_v1_RegisterResponse__Output>): grpc.ClientUnaryCall;
  registerInstance(argument: _meshlet_discovery_v1_Register, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_discovery_v1_RegisterResponse__Output>): grpc.ClientUnaryCall;
  registerInstance(argument: _meshlet_discovery_v1_Register, callback: grpc.requestCallback<_meshlet_discovery_v1_RegisterResponse__Output>): grpc.ClientUnaryCall;
  
  RenewLeases(argument: _meshlet_discovery_v1_RenewLeasesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_discovery_v1_RenewLeasesResponse__Output>): grpc.ClientUnaryCall;
  RenewLeases(argument: _meshlet_discovery_v1_RenewLeasesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshlet_discovery_v1_RenewLeasesResponse__Output>): grpc.ClientUnaryCall;
  RenewLeases(argument: _meshlet_discovery_v1_RenewLeasesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_discovery_v1_RenewLeasesResponse__Output>): grpc.ClientUnaryCall;
  RenewLeases(argument: _meshlet_discovery_v1_RenewLeasesRequest, callback: grpc.requestCallback<_meshlet_discovery_v1_RenewLeasesResponse__Output>): grpc.ClientUnaryCall;
  renewLeases(argument: _meshlet_discovery_v1_RenewLeasesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_discovery_v1_RenewLeasesResponse__Output>): grpc.ClientUnaryCall;
  renewLeases(argument: _meshlet_discovery_v1_RenewLeasesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshlet_discovery_v1_RenewLeasesResponse__Output>): grpc.ClientUnaryCall;
  renewLeases(argument: _meshlet_discovery_v1_RenewLeasesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_discovery_v1_RenewLeasesResponse__Output>): grpc.ClientUnaryCall;
  renewLeases(argument: _meshlet_discovery_v1_RenewLeasesRequest, callback: grpc.requestCallback<_meshlet_discovery_v1_RenewLeasesResponse__Output>): grpc.ClientUnaryCall;
  
  Stream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_meshlet_discovery_v1_DiscoveryRequest, _meshlet_discovery_v1_DiscoveryResponse__Output>;
  Stream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_meshlet_discovery_v1_DiscoveryRequest, _meshlet_discovery_v1_DiscoveryResponse__Output>;
  stream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_meshlet_discovery_v1_DiscoveryRequest, _meshlet_discovery_v1_DiscoveryResponse__Output>;
  stream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_meshlet_discovery_v1_DiscoveryRequest, _meshlet_discovery_v1_DiscoveryResponse__Output>;
  
}

export interface DiscoveryHandlers extends grpc.UntypedServiceImplementation {
  DeregisterInstance: grpc.handleUnaryCall<_meshlet_discovery_v1_Deregister__Output, _meshlet_discovery_v1_RegisterResponse>;
  
  ListSidecars: grpc.handleUnaryCall<_meshlet_discovery_v1_ListSidecarsRequest__Output, _meshlet_discovery_v1_ListSidecarsResponse>;
  
  RegisterInstance: grpc.handleUnaryCall<_meshlet_discovery_v1_Register__Output, _meshlet_discovery_v1_RegisterResponse>;
  
  RenewLeases: grpc.handleUnaryCall<_meshlet_discovery_v1_RenewLeasesRequest__Output, _meshlet_discovery_v1_RenewLeasesResponse>;
  
  Stream: grpc.handleBidiStreamingCall<_meshlet_discovery_v1_DiscoveryRequest__Output, _meshlet_discovery_v1_DiscoveryResponse>;
  
}

export interface DiscoveryDefinition extends grpc.ServiceDefinition {
  DeregisterInstance: MethodDefinition<_meshlet_discovery_v1_Deregister, _meshlet_discovery_v1_RegisterResponse, _meshlet_discovery_v1_Deregister__Output, _meshlet_discovery_v1_RegisterResponse__Output>
  ListSidecars: MethodDefinition<_meshlet_discovery_v1_ListSidecarsRequest, _meshlet_discovery_v1_ListSidecarsResponse, _meshlet_discovery_v1_ListSidecarsRequest__Output, _meshlet_discovery_v1_ListSidecarsResponse__Output>
  RegisterInstance: MethodDefinition<_meshlet_discovery_v1_Register, _meshlet_discovery_v1_RegisterResponse, _meshlet_discovery_v1_Register__Output, _meshlet_discovery_v1_RegisterResponse__Output>
  RenewLeases: MethodDefinition<_meshlet_discovery_v1_RenewLeasesRequest, _meshlet_discovery_v1_RenewLeasesResponse, _meshlet_discovery_v1_RenewLeasesRequest__Output, _meshlet_discovery_v1_RenewLeasesResponse__Output>
  Stream: MethodDefinition<_meshlet_discovery_v1_DiscoveryRequest, _meshlet_discovery_v1_DiscoveryResponse, _meshlet_discovery_v1_DiscoveryRequest__Output, _meshlet_discovery_v1_DiscoveryResponse__Output>
}

// Original file: proto/meshlet/raft/v1/raft.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ForwardRequest as _meshlet_raft_v1_ForwardRequest, ForwardRequest__Output as _meshlet_raft_v1_ForwardRequest__Output } from '../../../meshlet/raft/v1/ForwardRequest.ts';
import type { ForwardResponse as _meshlet_raft_v1_ForwardResponse, ForwardResponse__Output as _meshlet_raft_v1_ForwardResponse__Output } from '../../../meshlet/raft/v1/ForwardResponse.ts';
import type { MessageBatch as _meshlet_raft_v1_MessageBatch, MessageBatch__Output as _meshlet_raft_v1_MessageBatch__Output } from '../../../meshlet/raft/v1/MessageBatch.ts';
import type { SnapshotAck as _meshlet_raft_v1_SnapshotAck, SnapshotAck__Output as _meshlet_raft_v1_SnapshotAck__Output } from '../../../meshlet/raft/v1/SnapshotAck.ts';
import type { SnapshotChunk as _meshlet_raft_v1_SnapshotChunk, SnapshotChunk__Output as _meshlet_raft_v1_SnapshotChunk__Output } from '../../../meshlet/raft/v1/SnapshotChunk.ts';
import type { StreamAck as _meshlet_raft_v1_StreamAck, StreamAck__Output as _meshlet_raft_v1_StreamAck__Output } from '../../../meshlet/raft/v1/StreamAck.ts';

export interface RaftClient extends grpc.Client {
  Forward(argument: _meshlet_raft_v1_ForwardRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_raft_v1_ForwardResponse__Output>): grpc.ClientUnaryCall;
  Forward(argument: _meshlet_raft_v1_ForwardRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshlet_raft_v1_ForwardResponse__Output>): grpc.ClientUnaryCall;
  Forward(argument: _meshlet_raft_v1_ForwardRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_raft_v1_ForwardResponse__Output>): grpc.ClientUnaryCall;
  Forward(argument: _meshlet_raft_v1_ForwardRequest, callback: grpc.requestCallback<_meshlet_raft_v1_ForwardResponse__Output>): grpc.ClientUnaryCall;
  forward(argument: _meshlet_raft_v1_ForwardRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_raft_v1_ForwardResponse__Output>): grpc.ClientUnaryCall;
  forward(argument: _meshlet_raft_v1_ForwardRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshlet_raft_v1_ForwardResponse__Output>): grpc.ClientUnaryCall;
  forward(argument: _meshlet_raft_v1_ForwardRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_raft_v1_ForwardResponse__Output>): grpc.ClientUnaryCall;
  forward(argument: _meshlet_raft_v1_ForwardRequest, callback: grpc.requestCallback<_meshlet_raft_v1_ForwardResponse__Output>): grpc.ClientUnaryCall;
  
  InstallSnapshot(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_raft_v1_SnapshotAck__Output>): grpc.ClientWritableStream<_meshlet_raft_v1_SnapshotChunk>;
  InstallSnapshot(metadata: grpc.Metadata, callback: grpc.requestCallback<_meshlet_raft_v1_SnapshotAck__Output>): grpc.ClientWritableStream<_meshlet_raft_v1_SnapshotChunk>;
  InstallSnapshot(options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_raft_v1_SnapshotAck__Output>): grpc.ClientWritableStream<_meshlet_raft_v1_SnapshotChunk>;
  InstallSnapshot(callback: grpc.requestCallback<_meshlet_raft_v1_SnapshotAck__Output>): grpc.ClientWritableStream<_meshlet_raft_v1_SnapshotChunk>;
  installSnapshot(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_raft_v1_SnapshotAck__Output>): grpc.ClientWritableStream<_meshlet_raft_v1_SnapshotChunk>;
  installSnapshot(metadata: grpc.Metadata, callback: grpc.requestCallback<_meshlet_raft_v1_SnapshotAck__Output>): grpc.ClientWritableStream<_meshlet_raft_v1_SnapshotChunk>;
  installSnapshot(options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_raft_v1_SnapshotAck__Output>): grpc.ClientWritableStream<_meshlet_raft_v1_SnapshotChunk>;
  installSnapshot(callback: grpc.requestCallback<_meshlet_raft_v1_SnapshotAck__Output>): grpc.ClientWritableStream<_meshlet_raft_v1_SnapshotChunk>;
  
  Stream(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_raft_v1_StreamAck__Output>): grpc.ClientWritableStream<_meshlet_raft_v1_MessageBatch>;
  Stream(metadata: grpc.Metadata, callback: grpc.requestCallback<_meshlet_raft_v1_StreamAck__Output>): grpc.ClientWritableStream<_meshlet_raft_v1_MessageBatch>;
  Stream(options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_raft_v1_StreamAck__Output>): grpc.ClientWritableStream<_meshlet_raft_v1_MessageBatch>;
  Stream(callback: grpc.requestCallback<_meshlet_raft_v1_StreamAck__Output>): grpc.ClientWritableStream<_meshlet_raft_v1_MessageBatch>;
  stream(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_raft_v1_StreamAck__Output>): grpc.ClientWritableStream<_meshlet_raft_v1_MessageBatch>;
  stream(metadata: grpc.Metadata, callback: grpc.requestCallback<_meshlet_raft_v1_StreamAck__Output>): grpc.ClientWritableStream<_meshlet_raft_v1_MessageBatch>;
  stream(options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_raft_v1_StreamAck__Output>): grpc.ClientWritableStream<_meshlet_raft_v1_MessageBatch>;
  stream(callback: grpc.requestCallback<_meshlet_raft_v1_StreamAck__Output>): grpc.ClientWritableStream<_meshlet_raft_v1_MessageBatch>;
  
}

export interface RaftHandlers extends grpc.UntypedServiceImplementation {
  Forward: grpc.handleUnaryCall<_meshlet_raft_v1_ForwardRequest__Output, _meshlet_raft_v1_ForwardResponse>;
  
  InstallSnapshot: grpc.handleClientStreamingCall<_meshlet_raft_v1_SnapshotChunk__Output, _meshlet_raft_v1_SnapshotAck>;
  
  Stream: grpc.handleClientStreamingCall<_meshlet_raft_v1_MessageBatch__Output, _meshlet_raft_v1_StreamAck>;
  
}

export interface RaftDefinition extends grpc.ServiceDefinition {
  Forward: MethodDefinition<_meshlet_raft_v1_ForwardRequest, _meshlet_raft_v1_ForwardResponse, _meshlet_raft_v1_ForwardRequest__Output, _meshlet_raft_v1_ForwardResponse__Output>
  InstallSnapshot: MethodDefinition<_meshlet_raft_v1_SnapshotChunk, _meshlet_raft_v1_SnapshotAck, _meshlet_raft_v1_SnapshotChunk__Output, _meshlet_raft_v1_SnapshotAck__Output>
  Stream: MethodDefinition<_meshlet_raft_v1_MessageBatch, _meshlet_raft_v1_StreamAck, _meshlet_raft_v1_MessageBatch__Output, _meshlet_raft_v1_StreamAck__Output>
}

import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { ConfState as _meshlet_raft_v1_ConfState, ConfState__Output as _meshlet_raft_v1_ConfState__Output } from './meshlet/raft/v1/ConfState.ts';
import type { Entry as _meshlet_raft_v1_Entry, Entry__Output as _meshlet_raft_v1_Entry__Output } from './meshlet/raft/v1/Entry.ts';
import type { ForwardRequest as _meshlet_raft_v1_ForwardRequest, ForwardRequest__Output as _meshlet_raft_v1_ForwardRequest__Output } from './meshlet/raft/v1/ForwardRequest.ts';
import type { ForwardResponse as _meshlet_raft_v1_ForwardResponse, ForwardResponse__Output as _meshlet_raft_v1_ForwardResponse__Output } from './meshlet/raft/v1/ForwardResponse.ts';
import type { Message as _meshlet_raft_v1_Message, Message__Output as _meshlet_raft_v1_Message__Output } from './meshlet/raft/v1/Message.ts';
import type { MessageBatch as _meshlet_raft_v1_MessageBatch, MessageBatch__Output as _meshlet_raft_v1_MessageBatch__Output } from './meshlet/raft/v1/MessageBatch.ts';
import type { RaftClient as _meshlet_raft_v1_RaftClient, RaftDefinition as _meshlet_raft_v1_RaftDefinition } from './meshlet/raft/v1/Raft.ts';
import type { Snapshot as _meshlet_raft_v1_Snapshot, Snapshot__Output as _meshlet_raft_v1_Snapshot__Output } from './meshlet/raft/v1/Snapshot.ts';
import type { SnapshotAck as _meshlet_raft_v1_SnapshotAck, SnapshotAck__Output as _meshlet_raft_v1_SnapshotAck__Output } from './meshlet/raft/v1/SnapshotAck.ts';
import type { SnapshotChunk as _meshlet_raft_v1_SnapshotChunk, SnapshotChunk__Output as _meshlet_raft_v1_SnapshotChunk__Output } from './meshlet/raft/v1/SnapshotChunk.ts';
import type { SnapshotMetadata as _meshlet_raft_v1_SnapshotMetadata, SnapshotMetadata__Output as _meshlet_raft_v1_SnapshotMetadata__Output } from './meshlet/raft/v1/SnapshotMetadata.ts';
import type { StreamAck as _meshlet_raft_v1_StreamAck, StreamAck__Output as _meshlet_raft_v1_StreamAck__Output } from './meshlet/raft/v1/StreamAck.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  meshlet: {
    raft: {
      v1: {
        ConfState: MessageTypeDefinition<_meshlet_raft_v1_ConfState, _meshlet_raft_v1_ConfState__Output>
        Entry: MessageTypeDefinition<_meshlet_raft_v1_Entry, _meshlet_raft_v1_Entry__Output>
        EntryType: EnumTypeDefinition
        ForwardRequest: MessageTypeDefinition<_meshlet_raft_v1_ForwardRequest, _meshlet_raft_v1_ForwardRequest__Output>
        ForwardResponse: MessageTypeDefinition<_meshlet_raft_v1_ForwardResponse, _meshlet_raft_v1_ForwardResponse__Output>
        Message: MessageTypeDefinition<_meshlet_raft_v1_Message, _meshlet_raft_v1_Message__Output>
        MessageBatch: MessageTypeDefinition<_meshlet_raft_v1_MessageBatch, _meshlet_raft_v1_MessageBatch__Output>
        MessageType: EnumTypeDefinition
        Raft: SubtypeConstructor<typeof grpc.Client, _meshlet_raft_v1_RaftClient> & { service: _meshlet_raft_v1_RaftDefinition }
        Snapshot: MessageTypeDefinition<_meshlet_raft_v1_Snapshot, _meshlet_raft_v1_Snapshot__Output>
        SnapshotAck: MessageTypeDefinition<_meshlet_raft_v1_SnapshotAck, _meshlet_raft_v1_SnapshotAck__Output>
        SnapshotChunk: MessageTypeDefinition<_meshlet_raft_v1_SnapshotChunk, _meshlet_raft_v1_SnapshotChunk__Output>
        SnapshotMetadata: MessageTypeDefinition<_meshlet_raft_v1_SnapshotMetadata, _meshlet_raft_v1_SnapshotMetadata__Output>
        StreamAck: MessageTypeDefinition<_meshlet_raft_v1_StreamAck, _meshlet_raft_v1_StreamAck__Output>
      }
    }
  }
}


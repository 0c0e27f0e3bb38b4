import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { Ack as _meshlet_discovery_v1_Ack, Ack__Output as _meshlet_discovery_v1_Ack__Output } from './meshlet/discovery/v1/Ack.ts';
import type { Certificate as _meshlet_discovery_v1_Certificate, Certificate__Output as _meshlet_discovery_v1_Certificate__Output } from './meshlet/discovery/v1/Certificate.ts';
import type { CertificateRequest as _meshlet_discovery_v1_CertificateRequest, CertificateRequest__Output as _meshlet_discovery_v1_CertificateRequest__Output } from './meshlet/discovery/v1/CertificateRequest.ts';
import type { ConfigAck as _meshlet_discovery_v1_ConfigAck, ConfigAck__Output as _meshlet_discovery_v1_ConfigAck__Output } from './meshlet/discovery/v1/ConfigAck.ts';
import type { ConfigEntry as _meshlet_discovery_v1_ConfigEntry, ConfigEntry__Output as _meshlet_discovery_v1_ConfigEntry__Output } from './meshlet/discovery/v1/ConfigEntry.ts';
import type { ConfigUpdate as _meshlet_discovery_v1_ConfigUpdate, ConfigUpdate__Output as _meshlet_discovery_v1_ConfigUpdate__Output } from './meshlet/discovery/v1/ConfigUpdate.ts';
import type { Deregister as _meshlet_discovery_v1_Deregister, Deregister__Output as _meshlet_discovery_v1_Deregister__Output } from './meshlet/discovery/v1/Deregister.ts';
import type { DiscoveryClient as _meshlet_discovery_v1_DiscoveryClient, DiscoveryDefinition as _meshlet_discovery_v1_DiscoveryDefinition } from './meshlet/discovery/v1/Discovery.ts';
import type { DiscoveryRequest as _meshlet_discovery_v1_DiscoveryRequest, DiscoveryRequest__Output as _meshlet_discovery_v1_DiscoveryRequest__Output } from './meshlet/discovery/v1/DiscoveryRequest.ts';
import type { DiscoveryResponse as _meshlet_discovery_v1_DiscoveryResponse, DiscoveryResponse__Output as _meshlet_discovery_v1_DiscoveryResponse__Output } from './meshlet/discovery/v1/DiscoveryResponse.ts';
import type { Endpoint as _meshlet_discovery_v1_Endpoint, Endpoint__Output as _meshlet_discovery_v1_Endpoint__Output } from './meshlet/discovery/v1/Endpoint.ts';
import type { Heartbeat as _meshlet_discovery_v1_Heartbeat, Heartbeat__Output as _meshlet_discovery_v1_Heartbeat__Output } from './meshlet/discovery/v1/Heartbeat.ts';
import type { Hello as _meshlet_discovery_v1_Hello, Hello__Output as _meshlet_discovery_v1_Hello__Output } from './meshlet/discovery/v1/Hello.ts';
import type { ListSidecarsRequest as _meshlet_discovery_v1_ListSidecarsRequest, ListSidecarsRequest__Output as _meshlet_discovery_v1_ListSidecarsRequest__Output } from './meshlet/discovery/v1/ListSidecarsRequest.ts';
import type { ListSidecarsResponse as _meshlet_discovery_v1_ListSidecarsResponse, ListSidecarsResponse__Output as _meshlet_discovery_v1_ListSidecarsResponse__Output } from './meshlet/discovery/v1/ListSidecarsResponse.ts';
import type { Nack as _meshlet_discovery_v1_Nack, Nack__Output as _meshlet_discovery_v1_Nack__Output } from './meshlet/discovery/v1/Nack.ts';
import type { Register as _meshlet_discovery_v1_Register, Register__Output as _meshlet_discovery_v1_Register__Output } from './meshlet/discovery/v1/Register.ts';
import type { RegisterResponse as _meshlet_discovery_v1_RegisterResponse, RegisterResponse__Output as _meshlet_discovery_v1_RegisterResponse__Output } from './meshlet/discovery/v1/RegisterResponse.ts';
import type { RenewLeasesRequest as _meshlet_discovery_v1_RenewLeasesRequest, RenewLeasesRequest__Output as _meshlet_discovery_v1_RenewLeasesRequest__Output } from './meshlet/discovery/v1/RenewLeasesRequest.ts';
import type { RenewLeasesResponse as _meshlet_discovery_v1_RenewLeasesResponse, RenewLeasesResponse__Output as _meshlet_discovery_v1_RenewLeasesResponse__Output } from './meshlet/discovery/v1/RenewLeasesResponse.ts';
import type { Resource as _meshlet_discovery_v1_Resource, Resource__Output as _meshlet_discovery_v1_Resource__Output } from './meshlet/discovery/v1/Resource.ts';
import type { SidecarStatus as _meshlet_discovery_v1_SidecarStatus, SidecarStatus__Output as _meshlet_discovery_v1_SidecarStatus__Output } from './meshlet/discovery/v1/SidecarStatus.ts';
import type { Snapshot as _meshlet_discovery_v1_Snapshot, Snapshot__Output as _meshlet_discovery_v1_Snapshot__Output } from './meshlet/discovery/v1/Snapshot.ts';
import type { TrustBundle as _meshlet_discovery_v1_TrustBundle, TrustBundle__Output as _meshlet_discovery_v1_TrustBundle__Output } from './meshlet/discovery/v1/TrustBundle.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  meshlet: {
    discovery: {
      v1: {
        Ack: MessageTypeDefinition<_meshlet_discovery_v1_Ack, _meshlet_discovery_v1_Ack__Output>
        Certificate: MessageTypeDefinition<_meshlet_discovery_v1_Certificate, _meshlet_discovery_v1_Certificate__Output>
        CertificateRequest: MessageTypeDefinition<_meshlet_discovery_v1_CertificateRequest, _meshlet_discovery_v1_CertificateRequest__Output>
        ConfigAck: MessageTypeDefinition<_meshlet_discovery_v1_ConfigAck, _meshlet_discovery_v1_ConfigAck__Output>
        ConfigEntry: MessageTypeDefinition<_meshlet_discovery_v1_ConfigEntry, _meshlet_discovery_v1_ConfigEntry__Output>
        ConfigUpdate: MessageTypeDefinition<_meshlet_discovery_v1_ConfigUpdate, _meshlet_discovery_v1_ConfigUpdate__Output>
        Deregister: MessageTypeDefinition<_meshlet_discovery_v1_Deregister, _meshlet_discovery_v1_Deregister__Output>
        Discovery: SubtypeConstructor<typeof grpc.Client, _meshlet_discovery_v1_DiscoveryClient> & { service: _meshlet_discovery_v1_DiscoveryDefinition }
        DiscoveryRequest: MessageTypeDefinition<_meshlet_discovery_v1_DiscoveryRequest, _meshlet_discovery_v1_DiscoveryRequest__Output>
        DiscoveryResponse: MessageTypeDefinition<_meshlet_discovery_v1_DiscoveryResponse, _meshlet_discovery_v1_DiscoveryResponse__Output>
        Endpoint: MessageTypeDefinition<_meshlet_discovery_v1_Endpoint, _meshlet_discovery_v1_Endpoint__Output>
        Heartbeat: MessageTypeDefinition<_meshlet_discovery_v1_Heartbeat, _meshlet_discovery_v1_Heartbeat__Output>
        Hello: MessageTypeDefinition<_meshlet_discovery_v1_Hello, _meshlet_discovery_v1_Hello__Output>
        ListSidecarsRequest: MessageTypeDefinition<_meshlet_discovery_v1_ListSidecarsRequest, _meshlet_discovery_v1_ListSidecarsRequest__Output>
        ListSidecarsResponse: MessageTypeDefinition<_meshlet_discovery_v1_ListSidecarsResponse, _meshlet_discovery_v1_ListSidecarsResponse__Output>
        Nack: MessageTypeDefinition<_meshlet_discovery_v1_Nack, _meshlet_discovery_v1_Nack__Output>
        Register: MessageTypeDefinition<_meshlet_discovery_v1_Register, _meshlet_discovery_v1_Register__Output>
        RegisterResponse: MessageTypeDefinition<_meshlet_discovery_v1_RegisterResponse, _meshlet_discovery_v1_RegisterResponse__Output>
        RenewLeasesRequest: MessageTypeDefinition<_meshlet_discovery_v1_RenewLeasesRequest, _meshlet_discovery_v1_RenewLeasesRequest__Output>
        RenewLeasesResponse: MessageTypeDefinition<_meshlet_discovery_v1_RenewLeasesResponse, _meshlet_discovery_v1_RenewLeasesResponse__Output>
        Resource: MessageTypeDefinition<_meshlet_discovery_v1_Resource, _meshlet_discovery_v1_Resource__Output>
        SidecarStatus: MessageTypeDefinition<_meshlet_discovery_v1_SidecarStatus, _meshlet_discovery_v1_SidecarStatus__Output>
        Snapshot: MessageTypeDefinition<_meshlet_discovery_v1_Snapshot, _meshlet_discovery_v1_Snapshot__Output>
        TrustBundle: MessageTypeDefinition<_meshlet_discovery_v1_TrustBundle, _meshlet_discovery_v1_TrustBundle__Output>
      }
    }
  }
}


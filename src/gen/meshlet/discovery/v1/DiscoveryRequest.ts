// Original file: proto/meshlet/discovery/v1/discovery.proto

import type { Hello as _meshlet_discovery_v1_Hello, Hello__Output as _meshlet_discovery_v1_Hello__Output } from '../../../meshlet/discovery/v1/Hello.ts';
import type { Ack as _meshlet_discovery_v1_Ack, Ack__Output as _meshlet_discovery_v1_Ack__Output } from '../../../meshlet/discovery/v1/Ack.ts';
import type { Nack as _meshlet_discovery_v1_Nack, Nack__Output as _meshlet_discovery_v1_Nack__Output } from '../../../meshlet/discovery/v1/Nack.ts';
import type { Register as _meshlet_discovery_v1_Register, Register__Output as _meshlet_discovery_v1_Register__Output } from '../../../meshlet/discovery/v1/Register.ts';
import type { Deregister as _meshlet_discovery_v1_Deregister, Deregister__Output as _meshlet_discovery_v1_Deregister__Output } from '../../../meshlet/discovery/v1/Deregister.ts';
import type { Heartbeat as _meshlet_discovery_v1_Heartbeat, Heartbeat__Output as _meshlet_discovery_v1_Heartbeat__Output } from '../../../meshlet/discovery/v1/Heartbeat.ts';
import type { SidecarStatus as _meshlet_discovery_v1_SidecarStatus, SidecarStatus__Output as _meshlet_discovery_v1_SidecarStatus__Output } from '../../../meshlet/discovery/v1/SidecarStatus.ts';
import type { ConfigAck as _meshlet_discovery_v1_ConfigAck, ConfigAck__Output as _meshlet_discovery_v1_ConfigAck__Output } from '../../../meshlet/discovery/v1/ConfigAck.ts';
import type { CertificateRequest as _meshlet_discovery_v1_CertificateRequest, CertificateRequest__Output as _meshlet_discovery_v1_CertificateRequest__Output } from '../../../meshlet/discovery/v1/CertificateRequest.ts';

export interface DiscoveryRequest {
  'hello'?: (_meshlet_discovery_v1_Hello | null);
  'ack'?: (_meshlet_discovery_v1_Ack | null);
  'nack'?: (_meshlet_discovery_v1_Nack | null);
  'register'?: (_meshlet_discovery_v1_Register | null);
  'deregister'?: (_meshlet_discovery_v1_Deregister | null);
  'heartbeat'?: (_meshlet_discovery_v1_Heartbeat | null);
  'status'?: (_meshlet_discovery_v1_SidecarStatus | null);
  'configAck'?: (_meshlet_discovery_v1_ConfigAck | null);
  'certificateRequest'?: (_meshlet_discovery_v1_CertificateRequest | null);
  'kind'?: "hello"|"ack"|"nack"|"register"|"deregister"|"heartbeat"|"status"|"configAck"|"certificateRequest";
}

export interface DiscoveryRequest__Output {
  'hello'?: (_meshlet_discovery_v1_Hello__Output | null);
  'ack'?: (_meshlet_discovery_v1_Ack__Output | null);
  'nack'?: (_meshlet_discovery_v1_Nack__Output | null);
  'register'?: (_meshlet_discovery_v1_Register__Output | null);
  'deregister'?: (_meshlet_discovery_v1_Deregister__Output | null);
  'heartbeat'?: (_meshlet_discovery_v1_Heartbeat__Output | null);
  'status'?: (_meshlet_discovery_v1_SidecarStatus__Output | null);
  'configAck'?: (_meshlet_discovery_v1_ConfigAck__Output | null);
  'certificateRequest'?: (_meshlet_discovery_v1_CertificateRequest__Output | null);
  'kind'?: "hello"|"ack"|"nack"|"register"|"deregister"|"heartbeat"|"status"|"configAck"|"certificateRequest";
}

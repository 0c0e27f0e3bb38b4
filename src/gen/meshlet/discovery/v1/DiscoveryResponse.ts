// Original file: proto/meshlet/discovery/v1/discovery.proto

import type { Snapshot as _meshlet_discovery_v1_Snapshot, Snapshot__Output as _meshlet_discovery_v1_Snapshot__Output } from '../../../meshlet/discovery/v1/Snapshot.ts';
import type { ConfigUpdate as _meshlet_discovery_v1_ConfigUpdate, ConfigUpdate__Output as _meshlet_discovery_v1_ConfigUpdate__Output } from '../../../meshlet/discovery/v1/ConfigUpdate.ts';
import type { TrustBundle as _meshlet_discovery_v1_TrustBundle, TrustBundle__Output as _meshlet_discovery_v1_TrustBundle__Output } from '../../../meshlet/discovery/v1/TrustBundle.ts';
import type { Certificate as _meshlet_discovery_v1_Certificate, Certificate__Output as _meshlet_discovery_v1_Certificate__Output } from '../../../meshlet/discovery/v1/Certificate.ts';

export interface DiscoveryResponse {
  'snapshot'?: (_meshlet_discovery_v1_Snapshot | null);
  'config'?: (_meshlet_discovery_v1_ConfigUpdate | null);
  'trustBundle'?: (_meshlet_discovery_v1_TrustBundle | null);
  'certificate'?: (_meshlet_discovery_v1_Certificate | null);
  'kind'?: "snapshot"|"config"|"trustBundle"|"certificate";
}

export interface DiscoveryResponse__Output {
  'snapshot'?: (_meshlet_discovery_v1_Snapshot__Output | null);
  'config'?: (_meshlet_discovery_v1_ConfigUpdate__Output | null);
  'trustBundle'?: (_meshlet_discovery_v1_TrustBundle__Output | null);
  'certificate'?: (_meshlet_discovery_v1_Certificate__Output | null);
  'kind'?: "snapshot"|"config"|"trustBundle"|"certificate";
}

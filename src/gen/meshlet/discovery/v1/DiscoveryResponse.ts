// Original file: proto/meshlet/discovery/v1/discovery.proto

import type { Snapshot as _meshlet_discovery_v1_Snapshot, Snapshot__Output as _meshlet_discovery_v1_Snapshot__Output } from '../../../meshlet/discovery/v1/Snapshot.ts';
import type { ConfigUpdate as _meshlet_discovery_v1_ConfigUpdate, ConfigUpdate__Output as _meshlet_discovery_v1_ConfigUpdate__Output } from '../../../meshlet/discovery/v1/ConfigUpdate.ts';

export interface DiscoveryResponse {
  'snapshot'?: (_meshlet_discovery_v1_Snapshot | null);
  'config'?: (_meshlet_discovery_v1_ConfigUpdate | null);
  'kind'?: "snapshot"|"config";
}

export interface DiscoveryResponse__Output {
  'snapshot'?: (_meshlet_discovery_v1_Snapshot__Output | null);
  'config'?: (_meshlet_discovery_v1_ConfigUpdate__Output | null);
  'kind'?: "snapshot"|"config";
}

// Original file: proto/meshlet/discovery/v1/discovery.proto

import type { Snapshot as _meshlet_discovery_v1_Snapshot, Snapshot__Output as _meshlet_discovery_v1_Snapshot__Output } from '../../../meshlet/discovery/v1/Snapshot.ts';

export interface DiscoveryResponse {
  'snapshot'?: (_meshlet_discovery_v1_Snapshot | null);
  'kind'?: "snapshot";
}

export interface DiscoveryResponse__Output {
  'snapshot'?: (_meshlet_discovery_v1_Snapshot__Output | null);
  'kind'?: "snapshot";
}

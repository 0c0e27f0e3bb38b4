// Original file: proto/meshlet/discovery/v1/discovery.proto

import type { Endpoint as _meshlet_discovery_v1_Endpoint, Endpoint__Output as _meshlet_discovery_v1_Endpoint__Output } from '../../../meshlet/discovery/v1/Endpoint.ts';

export interface Register {
  'endpoint'?: (_meshlet_discovery_v1_Endpoint | null);
  'ttlSeconds'?: (number);
}

export interface Register__Output {
  'endpoint': (_meshlet_discovery_v1_Endpoint__Output | null);
  'ttlSeconds': (number);
}

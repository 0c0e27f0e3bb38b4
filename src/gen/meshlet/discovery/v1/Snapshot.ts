// Original file: proto/meshlet/discovery/v1/discovery.proto

import type { Resource as _meshlet_discovery_v1_Resource, Resource__Output as _meshlet_discovery_v1_Resource__Output } from '../../../meshlet/discovery/v1/Resource.ts';
import type { Endpoint as _meshlet_discovery_v1_Endpoint, Endpoint__Output as _meshlet_discovery_v1_Endpoint__Output } from '../../../meshlet/discovery/v1/Endpoint.ts';
import type { Long } from '@grpc/proto-loader';

export interface Snapshot {
  'version'?: (number | string | Long);
  'nonce'?: (string);
  'resources'?: (_meshlet_discovery_v1_Resource)[];
  'endpoints'?: (_meshlet_discovery_v1_Endpoint)[];
}

export interface Snapshot__Output {
  'version': (number);
  'nonce': (string);
  'resources': (_meshlet_discovery_v1_Resource__Output)[];
  'endpoints': (_meshlet_discovery_v1_Endpoint__Output)[];
}

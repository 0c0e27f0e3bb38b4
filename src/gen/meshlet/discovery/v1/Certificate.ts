// Original file: proto/meshlet/discovery/v1/discovery.proto

import type { TrustBundle as _meshlet_discovery_v1_TrustBundle, TrustBundle__Output as _meshlet_discovery_v1_TrustBundle__Output } from '../../../meshlet/discovery/v1/TrustBundle.ts';
import type { Long } from '@grpc/proto-loader';

export interface Certificate {
  'certChainPem'?: (string);
  'trustBundle'?: (_meshlet_discovery_v1_TrustBundle | null);
  'errorCode'?: (string);
  'error'?: (string);
  'requestId'?: (number | string | Long);
}

export interface Certificate__Output {
  'certChainPem': (string);
  'trustBundle': (_meshlet_discovery_v1_TrustBundle__Output | null);
  'errorCode': (string);
  'error': (string);
  'requestId': (number);
}

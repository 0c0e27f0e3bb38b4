// Original file: proto/meshlet/discovery/v1/discovery.proto

import type { Long } from '@grpc/proto-loader';

export interface Hello {
  'nodeId'?: (string);
  'service'?: (string);
  'instance'?: (string);
  'lastVersion'?: (number | string | Long);
  'subscribe'?: (string)[];
  'configRevision'?: (number | string | Long);
  'labels'?: ({[key: string]: string});
  'namespace'?: (string);
  'serviceAccount'?: (string);
}

export interface Hello__Output {
  'nodeId': (string);
  'service': (string);
  'instance': (string);
  'lastVersion': (number);
  'subscribe': (string)[];
  'configRevision': (number);
  'labels': ({[key: string]: string});
  'namespace': (string);
  'serviceAccount': (string);
}

import type { Finding } from "../../config/finding.ts";
import type { ConfigIssue } from "../../config/load.ts";
import type { Resource } from "../../config/resources.ts";
import type { TrafficWindow } from "../discovery/load-reports.ts";
import type { PlannedResource } from "./plan.ts";

/** Wire shapes of the mesh HTTP API, shared by the server module and the CLI. */

export interface ApplyResponse {
  /** Revision of the Raft entry that applied the change (the current revision on a dry run or a no-op). */
  revision: number;
  dryRun: boolean;
  results: PlannedResource[];
  warnings: Finding[];
}

export interface StoredResourceView {
  revision: number;
  resource: Resource;
}

export interface ResourceListResponse {
  revision: number;
  items: StoredResourceView[];
}

export interface EndpointView {
  service: string;
  instance: string;
  address: string;
  port: number;
  labels: Record<string, string>;
  weight: number;
  /** "registered" (a sidecar, with a lease) or "static" (Service spec.endpoints). */
  source: "registered" | "static";
  /** A registered endpoint's namespace, as the control plane verified it from its sidecar's identity. */
  namespace?: string;
}

export interface EndpointsResponse {
  service: string;
  revision: number;
  endpoints: EndpointView[];
}

/** What a sidecar holds of its app config (docs/config-center.md). */
export interface SidecarConfigView {
  /** The node's revision when it last sent the sidecar a config update; 0 = none yet. */
  sentRevision: number;
  /** The last of those the sidecar acknowledged: when equal, it has what it was sent. */
  ackedRevision: number;
  /** Only when one key was asked for: what the sidecar was sent of it (null: nothing, undeclared or missing). */
  key?: { revision: number; release: string; bytes: number; preview: string; digest: string } | null;
}

/**
 * Whether a sidecar acknowledged the last config update it was sent. A node of an older version sends no
 * `config` at all, hence the loose check.
 */
export function acknowledged(s: Pick<SidecarView, "config">): boolean {
  const c = s.config ?? null;
  return c !== null && c.sentRevision > 0 && c.ackedRevision >= c.sentRevision;
}

export interface SidecarView {
  id: string;
  service: string;
  instance: string;
  /** The control-plane node holding its stream. */
  node: string;
  lastPushedVersion: number;
  lastAckedVersion: number;
  lastNack: { version: number; error: string } | null;
  /** The last SidecarStatus the sidecar reported (its load report: breaker states, counters), or null. */
  status: unknown;
  /** Its requests between its last two load reports, by direction and service; null before two reports. */
  traffic: TrafficWindow | null;
  /** Its app config; null on a node without a config center. */
  config: SidecarConfigView | null;
}

/** A control-plane node's own view of Raft, as it answers the node gathering the cluster's sidecars. */
export interface NodeView {
  id: string;
  /** Leader id, "" when unknown. */
  leader: string;
  term: number;
  commitIndex: number;
  appliedIndex: number;
}

export interface SidecarsResponse {
  /** Every sidecar connected to any node of the cluster, by node then id. */
  sidecars: SidecarView[];
  /** Nodes that did not answer within the per-node deadline (500 ms): their sidecars are missing from the list. */
  unreachable: string[];
  /** True when some node did not answer: the list may miss sidecars (or name some that left). */
  stale: boolean;
}

export interface ErrorBody {
  /**
   * `issues`: schema problems of the request body (400). `findings`: what
   * sidecars would refuse in the state the change produces (422
   * ERR_CONFIG_REJECTED), in the words of their NACK.
   */
  error: { code: string; message: string; issues?: ConfigIssue[]; findings?: Finding[] };
}

/** The body of GET|POST /v1/analyze. */
export interface AnalyzeResponse {
  /** The state analyzed is the one at this revision (plus the request's resources, for a POST). */
  revision: number;
  /** Sorted: errors first, then by resource and path. */
  findings: Finding[];
}

/** The body of GET /v1/version. */
export interface VersionResponse {
  /** meshlet's release. */
  version: string;
  /** The node that answered. */
  node: string;
  /** Node.js running it. */
  nodeJs: string;
  /** The node's clock when it answered (ms since the epoch), for `meshlet check`'s skew estimate. */
  time: number;
}

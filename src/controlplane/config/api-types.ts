import type { HistoryEntry } from "./history.ts";

/** Wire shapes of the config center's HTTP API, shared by the server and the CLI (docs/config-center.md). */

/** POST /v1/config/{key}:promote and :rollback. */
export interface ReleaseActionResponse {
  /** The revision of the change: every instance converges to the value in effect from it. */
  revision: number;
  /** The release promoted or rolled back; null for rollback --to. */
  release: string | null;
  /** rollback --to: the revision whose value was restored. */
  to?: number;
}

export interface HistoryView extends HistoryEntry {
  /** A value-setting entry whose value is still kept: `rollback --to` can restore it. */
  restorable?: boolean;
}

/** GET /v1/config/{key}:history */
export interface HistoryResponse {
  key: string;
  /** The base value's revision; null when the key does not exist (deleted). */
  revision: number | null;
  /** The active release, if any. */
  release: string | null;
  /** Newest first. */
  entries: HistoryView[];
}

export interface ValueInfo {
  revision: number;
  bytes: number;
}

export interface InstanceConfig {
  service: string;
  instance: string;
  /** The control-plane node holding its stream. */
  node: string;
  /** What it was sent of the key: the release name or "base", with the revision; null = nothing yet. */
  release: string | null;
  revision: number | null;
  /** The first characters of the value, as text. */
  preview: string | null;
  /** A fingerprint of the value (XXH64): equal values, equal digests. */
  digest: string | null;
  /** True once the sidecar acknowledged the last config update it was sent. */
  acked: boolean;
}

/** GET /v1/config/{key}:status */
export interface StatusResponse {
  key: string;
  /** The store's revision when the state was read. */
  revision: number;
  base: ValueInfo | null;
  release: (ValueInfo & { name: string; selector: string }) | null;
  /** The connected instances whose Service declares the key. */
  instances: InstanceConfig[];
  /** How many of them have each value (by release and value), and how many acknowledged it. */
  summary: {
    release: string | null;
    preview: string | null;
    digest: string | null;
    instances: number;
    acked: number;
  }[];
  /** Nodes that did not answer: their sidecars are missing. */
  unreachable: string[];
}

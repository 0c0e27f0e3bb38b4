import { METRIC_PREFIX } from "../common/metrics.ts";
import { Gauge, type Registry } from "../common/prom.ts";

/** What the config gauges read at scrape time. */
export interface ConfigState {
  /** 1 while the config may be out of date: served from the cache at boot, or the control plane unreachable. */
  stale(): boolean;
  /** Resources of the running version this sidecar refused (their last good version runs, or none). */
  rejectedResources(): number;
  /** When the running config was applied (ms since the epoch), if ever. */
  appliedAt(): number | undefined;
}

/**
 * The sidecar's config health, for alerts: a sidecar that NACKs keeps
 * `rejected_resources` above zero until a version it accepts whole; one cut
 * off from the control plane shows `stale` 1. Read at scrape time from the
 * sidecar, so they never lag behind it.
 */
export function registerConfigMetrics(registry: Registry, state: ConfigState): void {
  const registers = [registry];
  new Gauge({
    name: `${METRIC_PREFIX}sidecar_config_stale`,
    help: "1 while the running config may be out of date (no control-plane stream, or started from the cache)",
    registers,
    collect() {
      this.set(state.stale() ? 1 : 0);
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}sidecar_config_rejected_resources`,
    help: "Resources of the running config version this sidecar refused (it NACKed the version and runs the rest)",
    registers,
    collect() {
      this.set(state.rejectedResources());
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}sidecar_config_applied_timestamp_seconds`,
    help: "When the running config was applied (Unix time); 0 before the first",
    registers,
    collect() {
      this.set((state.appliedAt() ?? 0) / 1000);
    },
  });
}

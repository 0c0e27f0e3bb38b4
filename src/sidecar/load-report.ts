import type { SidecarReport, TrafficSeries } from "../config/sidecar-report.ts";
import type { SidecarMetrics } from "./metrics.ts";
import type { CompiledSnapshot } from "./snapshot.ts";

/** How often a sidecar reports to its control-plane node (when something changed). */
export const REPORT_INTERVAL_MS = 2_000;

/**
 * The sidecar's load report, read at report time from what the request path already keeps: the request
 * counter and duration histogram of SidecarMetrics, the breakers, outlier detectors and health checkers of
 * the running snapshot. Nothing is added to the request path.
 */
export async function buildLoadReport(
  metrics: SidecarMetrics,
  snapshot: CompiledSnapshot | undefined,
  intervalMs: number = REPORT_INTERVAL_MS,
): Promise<SidecarReport> {
  const [requests, duration] = await Promise.all([metrics.requests.get(), metrics.duration.get()]);
  const series = new Map<string, TrafficSeries>();
  const seriesOf = (direction: unknown, service: unknown): TrafficSeries | undefined => {
    if (direction !== "inbound" && direction !== "outbound") return undefined;
    const name = String(service ?? "-");
    const key = `${direction}\n${name}`;
    let s = series.get(key);
    if (s === undefined) {
      s = { direction, service: name, requests: 0, errors: 0, fallbacks: 0, buckets: [] };
      series.set(key, s);
    }
    return s;
  };
  for (const { labels, value } of requests.values) {
    const s = seriesOf(labels.direction, labels.service);
    if (s === undefined) continue;
    s.requests += value;
    if (labels.code === "5xx") s.errors += value;
    if (String(labels.flags ?? "").includes("FB")) s.fallbacks += value;
  }
  // prom-client lists a series' buckets in ascending order of `le`, +Inf last.
  const bounds: number[] = [];
  for (const { labels, value, metricName } of duration.values) {
    if (metricName === undefined || !metricName.endsWith("_bucket")) continue;
    const s = seriesOf(labels.direction, labels.service);
    if (s === undefined) continue;
    s.buckets.push(value);
    const le = Number((labels as Record<string, unknown>).le);
    if (Number.isFinite(le) && s.buckets.length > bounds.length) bounds.push(le);
  }
  return {
    intervalMs,
    ...(snapshot === undefined ? {} : { version: snapshot.version }),
    breakers: snapshot?.policies?.breakerStates() ?? [],
    endpoints: outOfRotation(snapshot),
    traffic: { bounds, series: [...series.values()] },
  };
}

/** Endpoints this sidecar does not send to: ejected by outlier detection, or failing health checks. */
function outOfRotation(snapshot: CompiledSnapshot | undefined): SidecarReport["endpoints"] {
  const out: SidecarReport["endpoints"] = [];
  if (snapshot === undefined) return out;
  for (const [name, service] of snapshot.services) {
    const policy = snapshot.policies?.forService(name);
    if (policy?.outlier === undefined && policy?.healthCheck === undefined) continue;
    for (const e of service.endpoints) {
      if (policy.outlier?.isEjected(e.key) === true) out.push({ service: name, endpoint: e.key, state: "ejected" });
      else if (policy.healthCheck?.isHealthy(e.key) === false)
        out.push({ service: name, endpoint: e.key, state: "unhealthy" });
    }
  }
  return out;
}

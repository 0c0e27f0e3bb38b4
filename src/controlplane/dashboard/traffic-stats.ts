import type { TrafficWindow } from "../discovery/load-reports.ts";

/** Live figures for one service from one side: what its own sidecars served, or what callers' sidecars saw. */
export interface TrafficStats {
  /** Requests per second. */
  rps: number;
  /** Share of responses with a 5xx status, 0-1; null without requests. */
  errorRate: number | null;
  /** Share answered by a policy fallback, 0-1; null without requests. */
  fallbackRate: number | null;
  /** 99th percentile of the duration in milliseconds (histogram estimate); null without requests. */
  p99Ms: number | null;
}

/** Sums the windows' series that `pick` selects; rates add up across sidecars, histograms merge. */
export function aggregate(
  windows: readonly TrafficWindow[],
  pick: (series: TrafficWindow["series"][number]) => boolean,
): TrafficStats {
  let rps = 0;
  let requests = 0;
  let errors = 0;
  let fallbacks = 0;
  let bounds: number[] | undefined;
  let buckets: number[] = [];
  for (const w of windows) {
    for (const s of w.series) {
      if (!pick(s)) continue;
      rps += s.requests / (w.windowMs / 1000);
      requests += s.requests;
      errors += s.errors;
      fallbacks += s.fallbacks;
      // Sidecars of one version share their buckets; a window with other bounds adds rates, not latency.
      if (bounds === undefined) {
        bounds = w.bounds;
        buckets = [...s.buckets];
      } else if (sameBounds(bounds, w.bounds)) {
        s.buckets.forEach((c, i) => {
          buckets[i] = (buckets[i] ?? 0) + c;
        });
      }
    }
  }
  if (requests === 0) return { rps: 0, errorRate: null, fallbackRate: null, p99Ms: null };
  return {
    rps,
    errorRate: errors / requests,
    fallbackRate: fallbacks / requests,
    p99Ms: quantileMs(0.99, bounds ?? [], buckets),
  };
}

/**
 * The q-quantile of a histogram given as per-bucket counts (the last bucket is +Inf), interpolated linearly
 * within its bucket as Prometheus' histogram_quantile does; the highest finite bound when it falls in +Inf.
 */
export function quantileMs(q: number, bounds: readonly number[], buckets: readonly number[]): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const count = buckets[i] ?? 0;
    if (seen + count >= rank && count > 0) {
      const upper = bounds[i];
      if (upper === undefined) return (bounds[bounds.length - 1] ?? 0) * 1000;
      const lower = i === 0 ? 0 : (bounds[i - 1] ?? 0);
      return (lower + (upper - lower) * ((rank - seen) / count)) * 1000;
    }
    seen += count;
  }
  return (bounds[bounds.length - 1] ?? 0) * 1000;
}

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

import { type SidecarReport, sidecarReportSchema } from "../../config/sidecar-report.ts";

/** One series' change over a window: counts, and the duration histogram as per-bucket (not cumulative) counts. */
export interface TrafficDelta {
  direction: "inbound" | "outbound";
  service: string;
  requests: number;
  errors: number;
  fallbacks: number;
  buckets: number[];
}

/** What one sidecar did between its last two reports (or nothing, when it stopped reporting changes). */
export interface TrafficWindow {
  windowMs: number;
  /** Upper bounds of the histogram buckets in seconds; `buckets` has one more entry (+Inf). */
  bounds: number[];
  series: TrafficDelta[];
}

/**
 * A report is skipped when nothing changed: one missing for this many intervals means no request arrived,
 * and the sidecar's rates are zero.
 */
const SILENT_INTERVALS = 2.5;

/**
 * The load reports of one sidecar stream, kept in memory on the node holding the stream (never in Raft: they
 * are gone when the stream is, and the sidecar reports to its next node). Two consecutive reports make a
 * window of deltas; a report that follows a skipped one covers one interval only, because the sidecar skips
 * a report exactly when its counters did not move.
 */
export class SidecarLoad {
  #last: { report: SidecarReport; at: number } | undefined;
  #window: TrafficWindow | undefined;
  #windowAt = 0;

  /** Records a report received at `at` (ms); returns false when the report is not a valid SidecarReport. */
  record(value: unknown, at: number): boolean {
    const parsed = sidecarReportSchema.safeParse(value);
    if (!parsed.success) return false;
    const report = parsed.data;
    const last = this.#last;
    if (last !== undefined) {
      const elapsed = at - last.at;
      const windowMs = elapsed > report.intervalMs * 1.5 ? report.intervalMs : Math.max(1, elapsed);
      this.#window = diff(last.report, report, windowMs);
      this.#windowAt = at;
    }
    this.#last = { report, at };
    return true;
  }

  /** The latest report, if any. */
  get report(): SidecarReport | undefined {
    return this.#last?.report;
  }

  /** The latest window at `now`: an empty one when the sidecar has been silent (idle); null before two reports. */
  window(now: number): TrafficWindow | null {
    const last = this.#last;
    if (last === undefined || this.#window === undefined) return null;
    if (now - this.#windowAt > last.report.intervalMs * SILENT_INTERVALS)
      return { windowMs: last.report.intervalMs, bounds: this.#window.bounds, series: [] };
    return this.#window;
  }
}

function diff(before: SidecarReport, after: SidecarReport, windowMs: number): TrafficWindow {
  const previous = new Map(before.traffic.series.map((s) => [`${s.direction}\n${s.service}`, s]));
  const sameBounds =
    before.traffic.bounds.length === after.traffic.bounds.length &&
    before.traffic.bounds.every((b, i) => b === after.traffic.bounds[i]);
  const series: TrafficDelta[] = [];
  for (const s of after.traffic.series) {
    const p = previous.get(`${s.direction}\n${s.service}`);
    const requests = delta(s.requests, p?.requests);
    if (requests === 0) continue;
    const cumulative = s.buckets.map((c, i) => delta(c, sameBounds ? p?.buckets[i] : undefined));
    series.push({
      direction: s.direction,
      service: s.service,
      requests,
      errors: delta(s.errors, p?.errors),
      fallbacks: delta(s.fallbacks, p?.fallbacks),
      buckets: cumulative.map((c, i) => Math.max(0, c - (i === 0 ? 0 : (cumulative[i - 1] ?? 0)))),
    });
  }
  return { windowMs, bounds: after.traffic.bounds, series };
}

/** A counter's increase. One stream is one sidecar process, whose counters never go down; if one did, count from 0. */
function delta(now: number, before: number | undefined): number {
  if (before === undefined || now < before) return now;
  return now - before;
}

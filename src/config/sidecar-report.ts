import { z } from "zod";

/**
 * What a sidecar tells the control-plane node holding its discovery stream every few seconds (the `status`
 * message, as Envoy's load reports): its breaker states, the endpoints it took out of its balancers, and its
 * request counters. Counters are cumulative since the sidecar started; the node turns two reports into rates.
 * Shared by the sidecar (producer) and the control plane (consumer, which trusts no sidecar: every size is
 * bounded here).
 */

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const text = z.string().max(300);

/** Circuit breaker state as the sidecar's gauge has it: 0 closed, 1 half-open, 2 open. */
export const BREAKER_STATES = ["closed", "half-open", "open"] as const;

export const trafficSeriesSchema = z.object({
  direction: z.enum(["inbound", "outbound"]),
  /** Destination service (outbound) or the sidecar's own (inbound); "-" for requests no route matched. */
  service: text,
  requests: count,
  /** Responses with a 5xx status. */
  errors: count,
  /** Responses served by a policy fallback (flag FB). */
  fallbacks: count,
  /** Cumulative request-duration histogram: one count per bound of `bounds`, then +Inf. */
  buckets: z.array(count).max(65),
});

export const sidecarReportSchema = z.object({
  /** How often the sidecar reports; it skips a report when nothing changed since the last. */
  intervalMs: z.number().int().min(100).max(600_000),
  /** The snapshot version it runs. */
  version: z.string().max(64).optional(),
  breakers: z.array(z.object({ target: text, state: z.number().int().min(0).max(2) })).max(1_000),
  /** Endpoints its outlier detection ejected or its health checks failed, as address:port. */
  endpoints: z.array(z.object({ service: text, endpoint: text, state: z.enum(["ejected", "unhealthy"]) })).max(10_000),
  traffic: z.object({
    /** Upper bounds of the duration histogram's buckets, in seconds. */
    bounds: z.array(z.number().positive().finite()).max(64),
    series: z.array(trafficSeriesSchema).max(2_000),
  }),
});

export type SidecarReport = z.infer<typeof sidecarReportSchema>;
export type TrafficSeries = z.infer<typeof trafficSeriesSchema>;

import { z } from "zod";
import { parseDuration } from "../config/duration.ts";

/** A duration as the resources write it ("500ms", "2s"), in ms. */
const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `expected a duration such as 500ms or 2s, got "${text}"` });
    return z.NEVER;
  }
  return ms;
});

/** A bound on a measured value: the check holds when it is within [min, max]. */
const bound = z
  .strictObject({ min: z.number().optional(), max: z.number().optional() })
  .refine((b) => b.min !== undefined || b.max !== undefined, "give min, max or both");
const msBound = z
  .strictObject({ min: duration.optional(), max: duration.optional() })
  .refine((b) => b.min !== undefined || b.max !== undefined, "give min, max or both");

/** A control-plane node by id, `leader` (the node leading when the step runs), or an app instance by name. */
const target = z.string().min(1).max(64);

/** Thresholds on what the load generator saw in each of its steps. */
const loadChecks = z.strictObject({
  errorRate: bound.optional(),
  failed: bound.optional(),
  p99Ms: msBound.optional(),
  throughput: bound.optional(),
});

/** A threshold on a sidecar's metrics, counted since the drill started. */
export const metricCheckSchema = z
  .strictObject({
    /** The instance whose sidecar is read (demo.json names them). */
    sidecar: z.string().min(1),
    metric: z.enum(["errorRate", "fallbacks", "requests", "breakerOpen"]),
    /** Only requests to this destination service (outbound). */
    destination: z.string().min(1).optional(),
    min: z.number().optional(),
    max: z.number().optional(),
  })
  // A check with no bound could never fail.
  .refine((c) => c.min !== undefined || c.max !== undefined, "give min, max or both");

export type MetricCheck = z.infer<typeof metricCheckSchema>;

/** Something the mesh must reach within a time after the step starts. */
export const expectationSchema = z.strictObject({
  /** A live node reports a leader that is neither killed nor stopped. */
  leader: z.strictObject({ within: duration }).optional(),
  /** Every sidecar's /ready says its discovery stream is up. */
  sidecarsConnected: z.strictObject({ within: duration }).optional(),
  /** Every sidecar's /ready says its config may be stale (the control plane is gone). */
  sidecarsStale: z.strictObject({ within: duration }).optional(),
  /** Every sidecar runs the version the control plane holds now (a change made meanwhile reached all). */
  sidecarsConverged: z.strictObject({ within: duration }).optional(),
  /** The control plane lists this many endpoints of a service. */
  endpoints: z
    .strictObject({ service: z.string().min(1), count: z.number().int().min(0), within: duration })
    .optional(),
});

const stepSchema: z.ZodType<DrillStep, unknown> = z.lazy(() =>
  z.union([
    z.strictObject({ name: z.string().optional(), wait: duration }),
    z.strictObject({ name: z.string().optional(), kill: target }),
    z.strictObject({ name: z.string().optional(), stop: target }),
    z.strictObject({ name: z.string().optional(), cont: target }),
    z.strictObject({ name: z.string().optional(), heal: z.strictObject({}) }),
    z.strictObject({
      name: z.string().optional(),
      experiment: z.union([
        z.strictObject({ start: z.record(z.string(), z.unknown()), reason: z.string().optional() }),
        z.strictObject({ stop: z.string().min(1) }),
      ]),
    }),
    z.strictObject({ name: z.string().optional(), apply: z.string().min(1) }),
    z.strictObject({ name: z.string().optional(), expect: expectationSchema }),
    z.strictObject({ name: z.string().optional(), check: z.array(metricCheckSchema).min(1) }),
    z.strictObject({
      name: z.string().optional(),
      load: z
        .strictObject({
          /** The instance whose sidecar's outbound listener the requests go through. */
          via: z.string().min(1),
          host: z.string().min(1),
          path: z.string().startsWith("/").default("/"),
          headers: z.record(z.string(), z.string()).default({}),
          /** Stepped: one load step per value. */
          concurrency: z
            .union([z.number().int().min(1).max(1000), z.array(z.number().int().min(1).max(1000)).min(1)])
            .optional(),
          rate: z.union([z.number().min(1).max(100_000), z.array(z.number().min(1).max(100_000)).min(1)]).optional(),
          /** Each load step's length. */
          duration,
          /** A request slower than this counts as failed. */
          timeout: duration.default(5_000),
          checks: loadChecks.default({}),
          /** Steps run while the load runs (a kill under load). */
          during: z.array(stepSchema).default([]),
        })
        .refine(
          (l) => (l.concurrency === undefined) !== (l.rate === undefined),
          "give concurrency or rate, one of them",
        ),
    }),
  ]),
);

export type DrillStep =
  | { name?: string | undefined; wait: number }
  | { name?: string | undefined; kill: string }
  | { name?: string | undefined; stop: string }
  | { name?: string | undefined; cont: string }
  | { name?: string | undefined; heal: Record<string, never> }
  | {
      name?: string | undefined;
      experiment: { start: Record<string, unknown>; reason?: string | undefined } | { stop: string };
    }
  | { name?: string | undefined; apply: string }
  | { name?: string | undefined; expect: Expectation }
  | { name?: string | undefined; check: MetricCheck[] }
  | { name?: string | undefined; load: LoadSpec };

export interface LoadSpec {
  via: string;
  host: string;
  path: string;
  headers: Record<string, string>;
  concurrency?: number | number[] | undefined;
  rate?: number | number[] | undefined;
  duration: number;
  timeout: number;
  checks: z.infer<typeof loadChecks>;
  during: DrillStep[];
}

export const drillSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  steps: z.array(stepSchema).min(1),
});

export type Drill = z.infer<typeof drillSchema>;

export type Expectation = z.infer<typeof expectationSchema>;

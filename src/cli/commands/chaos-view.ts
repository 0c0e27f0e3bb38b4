import type { FaultExperiment } from "../../config/resources.ts";

/** `ratings` or `ratings{version=v2} 50%`: which instances an experiment hits. */
export function describeTarget(e: FaultExperiment): string {
  const t = e.spec.target;
  const labels =
    t.labels === undefined
      ? ""
      : `{${Object.entries(t.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(",")}}`;
  const share = t.instancePercent === undefined ? "" : ` ${t.instancePercent}% of instances`;
  return `${t.service}${labels}${share}`;
}

/** `delay 100ms`, `abort 503`, `abort grpc 14`, `bandwidth 1000B/s`, `reset`, `blackhole`. */
export function describeFault(e: FaultExperiment): string {
  const s = e.spec;
  if (s.delay !== undefined) return `delay ${s.delay.fixed}`;
  if (s.abort?.status !== undefined) return `abort ${s.abort.status}`;
  if (s.abort?.grpcStatus !== undefined) return `abort grpc ${s.abort.grpcStatus}`;
  if (s.bandwidth !== undefined) return `bandwidth ${s.bandwidth.bytesPerSecond}B/s`;
  return s.kind;
}

/** Seconds left before the deadline (`expired` once passed, `not started` without a status). */
export function describeRemaining(e: FaultExperiment, nowMs: number): string {
  if (e.status === undefined) return "not started";
  const left = e.status.deadline - nowMs;
  return left <= 0 ? "expired" : `${Math.ceil(left / 1000)}s`;
}

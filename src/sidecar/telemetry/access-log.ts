import type { RequestRecord } from "./record.ts";

/**
 * The access log: one JSON object per line per request, the keys below and
 * no other (docs/telemetry.md). Which requests get a line is the Service's
 * `accessLog` (the destination's on outbound, the local service's on inbound),
 * else the sidecar's --access-log: `off`, `all`, or `sampled` at a rate.
 */
export type AccessLogMode = "off" | "sampled" | "all";

export interface AccessLogPolicy {
  readonly mode: AccessLogMode;
  /** For `sampled`: the share of requests logged, 0-1. */
  readonly sampleRate: number;
}

export const ACCESS_LOG_OFF: AccessLogPolicy = { mode: "off", sampleRate: 0 };

/** Where lines go: a write of one string (pino's SonicBoom on stdout or a file, or a test's array). */
export interface LineSink {
  write(line: string): unknown;
}

/** Whether this request gets a line: `random` is called only for `sampled`. */
export function shouldLog(policy: AccessLogPolicy, random: () => number): boolean {
  if (policy.mode === "all") return true;
  if (policy.mode === "off") return false;
  return random() < policy.sampleRate;
}

/** The line for one request; `durationMs` from arrival to the end of the response. */
export function accessLogLine(r: RequestRecord, durationMs: number): string {
  return `${JSON.stringify({
    start_time: new Date(r.startWallMs).toISOString(),
    direction: r.direction,
    method: r.method,
    authority: r.authority,
    path: r.path,
    response_code: r.status,
    response_flags: r.flags === "" ? "-" : r.flags,
    grpc_status: r.grpcStatus,
    duration_ms: Math.round(durationMs * 1000) / 1000,
    bytes_received: r.requestBytes,
    bytes_sent: r.responseBytes,
    upstream_address: r.endpoint?.key ?? "",
    attempts: r.attempts,
    request_id: r.requestId,
    trace_id: r.traceId,
    span_id: r.span?.spanId ?? "",
    source_service: r.sourceService,
    peer_identity: r.peerIdentity ?? "-",
    destination_service: r.destinationService,
    destination_version: r.endpoint?.labels.version ?? "",
  })}\n`;
}

import type { FallbackTrigger } from "../../config/resources.ts";
import type { Fallback, LocalReply } from "./fallback.ts";
import type { ResilienceMetrics } from "./metrics.ts";
import type { RateLimitRefusal } from "./rate-limit.ts";

export const FLAGS_HEADER = "x-meshlet-flags";

/** The response flags resilience answers with (see DESIGN.md). */
export type ResilienceFlag = "RL" | "CB" | "UO" | "UH" | "UT";

function jsonReply(status: number, flag: string, body: Record<string, unknown>, extra: Record<string, string> = {}) {
  return {
    status,
    headers: { "content-type": "application/json", [FLAGS_HEADER]: flag, ...extra },
    body: Buffer.from(JSON.stringify(body)),
  } satisfies LocalReply;
}

/** 429 RL with Retry-After and the x-ratelimit-* headers. */
export function rateLimitedReply(service: string, r: RateLimitRefusal): LocalReply {
  return jsonReply(
    429,
    "RL",
    { error: "rate limited", service, flag: "RL" },
    {
      "retry-after": String(r.retryAfterSeconds),
      "x-ratelimit-limit": String(r.limit),
      "x-ratelimit-remaining": String(r.remaining),
      "x-ratelimit-reset": String(r.resetSeconds),
    },
  );
}

/** 503 CB: the destination's circuit breaker is open. */
export function circuitOpenReply(service: string): LocalReply {
  return jsonReply(503, "CB", { error: "circuit breaker open", service, flag: "CB" });
}

/** 503 UO: a concurrency limit overflowed. */
export function overflowReply(service: string, limit: string): LocalReply {
  return jsonReply(503, "UO", { error: `overflow: ${limit} reached`, service, flag: "UO" });
}

/** Which fallback trigger a flag stands for. */
export const TRIGGER_OF_FLAG: Readonly<Record<ResilienceFlag, FallbackTrigger>> = {
  RL: "rateLimited",
  CB: "circuitOpen",
  UO: "overflow",
  UH: "noHealthyUpstream",
  UT: "timeout",
};

/**
 * The fallback's local reply for a request that would get `flag`, counted by
 * trigger and kind, with the original flag and FB in x-meshlet-flags; or
 * undefined when the policy has no local answer (no fallback for this
 * trigger, a stale-cache miss, or a service fallback the router must take).
 */
export function fallbackReply(
  fallback: Fallback | undefined,
  flag: ResilienceFlag,
  request: { method: string; url: string; headers: Record<string, string | string[] | undefined>; grpc?: boolean },
  now: number,
  metrics: ResilienceMetrics,
): LocalReply | undefined {
  const trigger = TRIGGER_OF_FLAG[flag];
  if (fallback === undefined || !fallback.handles(trigger)) return undefined;
  const reply = fallback.reply(request.method, request.url, request.headers, now, request.grpc === true);
  if (reply === undefined) return undefined;
  reply.headers[FLAGS_HEADER] = `${flag},FB`;
  metrics.fallbacks.labels(trigger, fallback.action.kind).inc();
  return reply;
}

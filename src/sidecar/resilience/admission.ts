import type { LocalReply } from "./fallback.ts";
import type { ResilienceMetrics } from "./metrics.ts";
import type { Direction, RateLimit, RateLimitKey } from "./rate-limit.ts";
import { rateLimitedReply } from "./replies.ts";

/** The bucket key of a request: the header's value, or the calling service; "" when the policy has no key. */
export function rateLimitKeyOf(
  key: RateLimitKey,
  headers: Record<string, string | string[] | undefined>,
  sourceService: string | undefined,
): string {
  if (key === undefined) return "";
  if ("sourceService" in key) return sourceService ?? "";
  const v = headers[key.header];
  return Array.isArray(v) ? (v[0] ?? "") : (v ?? "");
}

/**
 * The rate-limit decision for one request: `true` when admitted without
 * waiting (synchronous, the hot path), otherwise a promise that waits in the
 * policy's queue when it has maxWait and resolves to `true` or to the 429.
 */
export function admitRate(
  rl: RateLimit,
  key: string,
  at: { service: string; target: string; direction: Direction },
  metrics: ResilienceMetrics,
): true | Promise<true | LocalReply> {
  if (rl.admit(key)) return true;
  if (rl.maxWaitMs === undefined) return Promise.resolve(refuse(rl, key, at, metrics));
  return rl.wait(key).then((ok) => {
    metrics.rateLimitQueued.labels(at.target, ok ? "admitted" : "refused").inc();
    return ok ? true : refuse(rl, key, at, metrics);
  });
}

function refuse(
  rl: RateLimit,
  key: string,
  at: { service: string; target: string; direction: Direction },
  metrics: ResilienceMetrics,
): LocalReply {
  metrics.rateLimited.labels(at.target, at.direction).inc();
  return rateLimitedReply(at.service, rl.refusal(key));
}

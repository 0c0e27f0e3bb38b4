/**
 * Exponential backoff with full jitter: a uniform delay in
 * [0, min(max, base * 2^attempt)). Full jitter spreads the reconnects of many
 * sidecars that lost the same node at the same instant.
 */
export function backoffDelay(attempt: number, limits: { baseMs: number; maxMs: number }, random: () => number): number {
  const cap = Math.min(limits.maxMs, limits.baseMs * 2 ** Math.min(attempt, 30));
  return random() * cap;
}

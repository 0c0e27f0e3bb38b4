/** Why an attempt at an upstream failed, as retries, breakers and outlier detection count it. */
export type AttemptError = "connect" | "reset" | "timeout";
/** How a response that streamed to the client ended: whole, cut off by the upstream, or by the client leaving. */
export type StreamEnd = "complete" | "upstream-reset" | "client-gone";

/** Socket error codes that mean no connection was made: nothing reached the upstream. */
const CONNECT_ERRORS = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** What an error code says about an upstream attempt. */
export function attemptErrorOf(code: string): AttemptError {
  if (CONNECT_ERRORS.has(code)) return "connect";
  if (code === "EATTEMPT_TIMEOUT") return "timeout";
  return "reset";
}

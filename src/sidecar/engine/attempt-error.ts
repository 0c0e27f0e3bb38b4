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

/**
 * A pool that could not hand out a connection: nothing was sent, whatever the code says (refused, a TLS
 * handshake or a peer certificate refused, no certificate yet, an address two services claim), so it is a
 * connect failure (UF, retried like one); only the attempt's own timeout is a timeout.
 */
export function acquireErrorOf(code: string): AttemptError {
  return code === "EATTEMPT_TIMEOUT" ? "timeout" : "connect";
}

/** What an error code says about an upstream attempt. */
export function attemptErrorOf(code: string): AttemptError {
  if (CONNECT_ERRORS.has(code)) return "connect";
  if (code === "EATTEMPT_TIMEOUT") return "timeout";
  return "reset";
}

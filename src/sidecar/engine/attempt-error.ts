/** Why an attempt at an upstream failed, as retries, breakers and outlier detection count it. */
export type AttemptError = "connect" | "reset" | "timeout";
/** How a response that streamed to the client ended: whole, cut off by the upstream, or by the client leaving. */
export type StreamEnd = "complete" | "upstream-reset" | "client-gone";

/**
 * Error codes that mean no connection was made: nothing reached the upstream. Besides the socket's, a peer
 * sidecar that fails the mTLS checks (the wrong identity, a certificate the mesh CA did not issue) and an
 * address two services claim (mesh-tls.ts): the request was never sent, so it is a connect failure (UF).
 */
const CONNECT_ERRORS = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
  "ERR_TLS_PEER_IDENTITY",
  "ERR_TLS_PEER_ISSUER",
  "ERR_ENDPOINT_CONFLICT",
]);

/** What an error code says about an upstream attempt. */
export function attemptErrorOf(code: string): AttemptError {
  if (CONNECT_ERRORS.has(code)) return "connect";
  if (code === "EATTEMPT_TIMEOUT") return "timeout";
  return "reset";
}

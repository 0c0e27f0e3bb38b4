import type { Logger } from "../../common/logger.ts";

/**
 * Why a peer's certificate was refused, as an operator reads it: the
 * OpenSSL verification result (X509_V_ERR_* as Node names them) or Node's
 * TLS error code, folded into a few causes. Used as a metric label, so the
 * set is closed.
 */
export type CertificateCause =
  | "expired"
  | "not_yet_valid"
  | "unknown_ca"
  | "no_client_certificate"
  | "wrong_identity"
  | "foreign_issuer"
  | "handshake";

const CAUSES: Readonly<Record<string, CertificateCause>> = {
  CERT_HAS_EXPIRED: "expired",
  CERT_NOT_YET_VALID: "not_yet_valid",
  // The chain does not end at a root of the trust bundle: another CA, a self-signed certificate, a missing intermediate.
  UNABLE_TO_GET_ISSUER_CERT: "unknown_ca",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "unknown_ca",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "unknown_ca",
  SELF_SIGNED_CERT_IN_CHAIN: "unknown_ca",
  DEPTH_ZERO_SELF_SIGNED_CERT: "unknown_ca",
  CERT_UNTRUSTED: "unknown_ca",
  ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: "no_client_certificate",
  ERR_TLS_PEER_IDENTITY: "wrong_identity",
  ERR_TLS_PEER_ISSUER: "foreign_issuer",
};

/** The cause of a verification or handshake error code; `handshake` for any other TLS failure. */
export function certificateCause(code: string | undefined): CertificateCause {
  return (code === undefined ? undefined : CAUSES[code]) ?? "handshake";
}

/**
 * Whether a connection error is the peer's certificate or the TLS handshake
 * failing, rather than the network (ECONNREFUSED, ECONNRESET, ETIMEDOUT and
 * the other errno codes, all `E...`): verification results (CERT_HAS_EXPIRED,
 * SELF_SIGNED_CERT_IN_CHAIN, ...), OpenSSL's ERR_SSL_* and Node's ERR_TLS_*.
 */
export function isTlsRefusal(code: string | undefined): boolean {
  if (code === undefined) return false;
  return code in CAUSES || code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_") || !code.startsWith("E");
}

/** A warning is logged at most once per cause in this window; the refusals between are counted in the next one. */
export const WARN_INTERVAL_MS = 60_000;

/**
 * Warnings about refused peers, at most one per cause per minute: a
 * misconfigured or hostile peer retrying in a loop must not flood the log
 * (the metric counts every refusal). The fields logged are codes,
 * addresses and SPIFFE IDs, never certificates or keys.
 */
export class RefusalWarnings {
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #message: string;
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  constructor(logger: Logger, now: () => number, message: string) {
    this.#logger = logger;
    this.#now = now;
    this.#message = message;
  }

  warn(cause: string, fields: Record<string, string | undefined>): void {
    const now = this.#now();
    const last = this.#last.get(cause);
    if (last !== undefined && now - last.at < WARN_INTERVAL_MS) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.#last.set(cause, { at: now, suppressed: 0 });
    this.#logger.warn({ reason: cause, ...fields, ...(suppressed > 0 ? { suppressed } : {}) }, this.#message);
  }
}

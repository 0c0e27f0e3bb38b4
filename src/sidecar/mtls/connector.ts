import { X509Certificate } from "node:crypto";
import { connect, type PeerCertificate, type TLSSocket } from "node:tls";
import type { Logger } from "../../common/logger.ts";
import { Counter, type Registry } from "../../common/prom.ts";
import { spiffeIdOf } from "../../security/identity.ts";
import type { Connector } from "../engine/connect.ts";
import { issuedByMesh } from "./peer-issuer.ts";
import { certificateCause, isTlsRefusal, RefusalWarnings } from "./refusals.ts";
import type { TlsMaterial } from "./workload-identity.ts";

/**
 * Originates mTLS to a peer sidecar's inbound port: TLS 1.3, this
 * workload's certificate, the peer verified against the trust bundle and
 * required to carry one of the destination service's SPIFFE IDs (its
 * `/service/` ID or an account its Service lists; not any mesh member),
 * and issued by the mesh CA (not another CA under the same root); the
 * identity is read as inbound reads it (spiffeIdOf: a DER certificate only).
 * TLS 1.3 session tickets of the endpoint are kept and offered again, so a
 * new pooled connection resumes instead of a full handshake; not after the
 * trust changed (a root rotation, the end of its overlap, an issuing CA rotated): the session
 * would carry the certificates of the handshake that began it.
 * A peer refused during the handshake is reported to `refusals` (the pool
 * still sees the error: a connect failure, UF).
 */
export function mtlsConnector(
  material: () => TlsMaterial | undefined,
  expected: string | ReadonlySet<string>,
  refusals?: OutboundTlsRefusals,
): Connector {
  /** The last ticket and the trust (roots and issuers) it was got under. */
  let session: { ticket: Buffer; trust: string } | undefined;
  const ids = typeof expected === "string" ? new Set([expected]) : expected;
  const identityCheck =
    (issuers: readonly X509Certificate[] | undefined) =>
    (_host: string, cert: PeerCertificate): Error | undefined => {
      const x509 = new X509Certificate(cert.raw);
      const peer = spiffeIdOf(x509);
      if (peer === undefined || !ids.has(peer))
        return Object.assign(new Error(`peer is ${peer ?? "no SPIFFE ID"}, expected ${[...ids].join(" or ")}`), {
          code: "ERR_TLS_PEER_IDENTITY",
        });
      if (!issuedByMesh(x509, issuers))
        return Object.assign(new Error(`peer ${peer} holds a certificate the mesh CA did not issue`), {
          code: "ERR_TLS_PEER_ISSUER",
        });
      return undefined;
    };
  return (host, port) => {
    const m = material();
    const checkServerIdentity = identityCheck(m?.issuers);
    const trust = m === undefined ? undefined : trustOf(m);
    const socket: TLSSocket = connect({
      host,
      port,
      ...(m === undefined ? {} : { secureContext: m.context }),
      minVersion: "TLSv1.3",
      rejectUnauthorized: true,
      checkServerIdentity,
      ...(session === undefined || session.trust !== trust ? {} : { session: session.ticket }),
    });
    socket.setNoDelay(true);
    socket.on("session", (ticket: Buffer) => {
      if (trust !== undefined) session = { ticket, trust };
    });
    if (refusals !== undefined) {
      const onError = (e: NodeJS.ErrnoException) => refusals.refused(`${host}:${port}`, e);
      socket.on("error", onError);
      socket.once("secureConnect", () => socket.off("error", onError));
    }
    return { socket, ready: "secureConnect" };
  };
}

/**
 * Outbound handshakes refused because of the peer's certificate or the TLS
 * handshake (not the network): counted by cause in
 * meshlet_outbound_tls_refused_total{reason}, and warned about at most once
 * per cause per minute with the endpoint. One per sidecar.
 */
export class OutboundTlsRefusals {
  readonly #refused: Counter<"reason">;
  readonly #warnings: RefusalWarnings;

  /** `now`: milliseconds on any monotonic scale, for spacing the warnings. */
  constructor(registry: Registry, logger: Logger, now: () => number) {
    this.#refused = new Counter({
      name: "meshlet_outbound_tls_refused_total",
      help: "Outbound mTLS connections to peer sidecars refused during the handshake, by reason: wrong_identity (not a SPIFFE ID of the destination service), foreign_issuer (not issued by the mesh CA), expired, not_yet_valid, unknown_ca (not under the trust bundle), handshake (another TLS failure)",
      labelNames: ["reason"],
      registers: [registry],
    });
    this.#warnings = new RefusalWarnings(logger, now, "outbound mTLS connection refused");
  }

  refused(endpoint: string, e: NodeJS.ErrnoException): void {
    if (!isTlsRefusal(e.code)) return;
    const cause = certificateCause(e.code);
    this.#refused.inc({ reason: cause });
    // Only the identity checks' own messages (which names were seen and expected) are logged; OpenSSL's carry nothing more than the code.
    const detail = cause === "wrong_identity" || cause === "foreign_issuer" ? e.message : undefined;
    this.#warnings.warn(cause, { endpoint, code: e.code, ...(detail === undefined ? {} : { detail }) });
  }
}

/**
 * What a resumed session was checked against: the roots and the issuing CAs. A resumption skips the peer
 * checks (Node calls no checkServerIdentity for it), so a ticket is offered only under the same trust, as the
 * inbound listener renews its ticket keys when either changes.
 */
function trustOf(m: TlsMaterial): string {
  return `${m.bundlePem}|${m.issuers?.map((c) => c.fingerprint256).join(",") ?? "-"}`;
}

import type { Socket } from "node:net";
import { createServer, type TLSSocket, type Server as TlsServer } from "node:tls";
import type { Logger } from "../../common/logger.ts";
import { Counter, Gauge, type Registry } from "../../common/prom.ts";
import type { MtlsMode } from "../../config/resources.ts";
import { spiffeIdOf } from "../../security/identity.ts";
import { parseSpiffeId } from "../../security/spiffe.ts";
import type { Acceptor } from "../engine/server.ts";
import { issuedByMesh } from "./peer-issuer.ts";
import { type CertificateCause, certificateCause, RefusalWarnings } from "./refusals.ts";
import type { TlsMaterial } from "./workload-identity.ts";

/** The first byte of a TLS record carrying a handshake: how PERMISSIVE tells TLS from plain HTTP. */
const TLS_HANDSHAKE = 0x16;
const MODES: readonly MtlsMode[] = ["STRICT", "PERMISSIVE", "DISABLE"];
/** A client that sends nothing for this long is dropped before a byte of it is read as HTTP or TLS. */
const FIRST_BYTE_TIMEOUT_MS = 10_000;

/**
 * The inbound listener transport. With a workload certificate and a mode
 * other than DISABLE, a connection whose first byte starts a TLS handshake
 * goes through TLS 1.3 with a required client certificate verified against
 * the trust bundle and carrying a SPIFFE ID (the peer identity handed to the
 * engine); plain text is refused in STRICT and served in PERMISSIVE.
 * Until its first certificate arrives the sidecar cannot speak mTLS, and
 * STRICT still means what it says: every connection is refused (a
 * control-fed sidecar always gets one; its control plane is a CA).
 * A refused handshake is counted by its cause (expired, unknown CA, no client
 * certificate, ...) and warned about at most once per cause per minute.
 */
export class InboundMtls {
  readonly #tls: TlsServer;
  readonly #refused: Counter<"reason">;
  readonly #accepted: Counter<"transport">;
  readonly #modeGauge: Gauge<"mode">;
  readonly #warnings: RefusalWarnings;
  #serve: ((stream: Socket, peerIdentity?: string) => void) | undefined;
  #mode: MtlsMode = "STRICT";
  #material: TlsMaterial | undefined;

  /** `now`: milliseconds on any monotonic scale, for spacing the warnings. */
  constructor(registry: Registry, logger: Logger, now: () => number) {
    this.#warnings = new RefusalWarnings(logger, now, "inbound mTLS connection refused");
    this.#refused = new Counter({
      name: "meshlet_inbound_tls_refused_total",
      help: "Inbound connections refused by the mTLS transport, by reason: plaintext on STRICT, no_certificate (this sidecar has none yet) on STRICT; the client's certificate expired, not_yet_valid, unknown_ca (not under the trust bundle), no_client_certificate, another handshake failure (handshake); no_identity (no SPIFFE ID), foreign_trust_domain, foreign_issuer (under the bundle's root, not issued by the mesh CA)",
      labelNames: ["reason"],
      registers: [registry],
    });
    this.#accepted = new Counter({
      name: "meshlet_inbound_connections_total",
      help: "Inbound connections handed to HTTP, by transport: mtls (verified peer) or plaintext (DISABLE, or PERMISSIVE)",
      labelNames: ["transport"],
      registers: [registry],
    });
    this.#modeGauge = new Gauge({
      name: "meshlet_inbound_mtls_mode",
      help: "The mTLS mode of this sidecar's inbound port (1 for the one in force): its Service's spec.mtls, else its namespace's or the mesh's PeerAuthentication, else STRICT",
      labelNames: ["mode"],
      registers: [registry],
    });
    this.#showMode();
    this.#tls = createServer({
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.3",
      // Replaced by setSecureContext at the first certificate: no handshake completes before.
      SNICallback: (_name, cb) => cb(new Error("no workload certificate yet"), undefined),
    });
    this.#tls.on("secureConnection", (s: TLSSocket) => this.#secured(s));
    this.#tls.on("tlsClientError", (err: NodeJS.ErrnoException, s: TLSSocket) => this.#handshakeFailed(err, s));
  }

  /**
   * New certificate or bundle: new handshakes use it, open connections keep theirs. The session-ticket keys
   * are carried over (setSecureContext would make new ones), so callers' tickets from before a renewal still
   * resume instead of costing a full handshake. A resumed session is checked like a full one in #secured
   * (identity, trust domain, issuer against the current material). Not across a change of the trust bundle or
   * issuers (a root rotation, and the end of its overlap): a resumed session carries the certificate of the
   * handshake that began it, perhaps one under a root no longer trusted, which #secured would refuse on a
   * connection the caller took for good; new keys make every caller do a full handshake with what it holds now.
   */
  use(material: TlsMaterial): void {
    const previous = this.#material;
    const sameTrust =
      previous !== undefined &&
      previous.bundlePem === material.bundlePem &&
      previous.issuers?.length === material.issuers?.length &&
      (previous.issuers ?? []).every((c, i) => c.fingerprint256 === material.issuers?.[i]?.fingerprint256);
    this.#material = material;
    this.#tls.setSecureContext({
      key: material.keyPem,
      cert: material.certChainPem,
      ca: material.bundlePem,
      minVersion: "TLSv1.3",
      ...(sameTrust ? { ticketKeys: this.#tls.getTicketKeys() } : {}),
    });
  }

  setMode(mode: MtlsMode): void {
    this.#mode = mode;
    this.#showMode();
  }

  #showMode(): void {
    for (const m of MODES) this.#modeGauge.labels(m).set(m === this.#mode ? 1 : 0);
  }

  get mode(): MtlsMode {
    return this.#mode;
  }

  readonly accept: Acceptor = (socket, serve) => {
    this.#serve = serve;
    if (this.#mode === "DISABLE" || (this.#material === undefined && this.#mode === "PERMISSIVE")) {
      this.#accepted.inc({ transport: "plaintext" });
      serve(socket);
      return;
    }
    if (this.#material === undefined) {
      this.#refused.inc({ reason: "no_certificate" });
      socket.destroy();
      return;
    }
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy());
    socket.once("error", () => socket.destroy());
    socket.once("data", (first: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE) {
        this.#tls.emit("connection", socket);
      } else if (this.#mode === "PERMISSIVE") {
        this.#accepted.inc({ transport: "plaintext" });
        serve(socket);
        socket.resume();
      } else {
        this.#refused.inc({ reason: "plaintext" });
        socket.destroy();
      }
    });
  };

  /**
   * A handshake that did not complete. Node verifies the client's chain once
   * OpenSSL finished, and on failure destroys the socket with its
   * `authorizationError` set (the error itself is then only "socket hang up");
   * a missing client certificate fails inside OpenSSL with its own code.
   */
  #handshakeFailed(err: NodeJS.ErrnoException, s: TLSSocket): void {
    const code = verificationCode(s) ?? err.code;
    const cause = certificateCause(code);
    this.#refused.inc({ reason: cause });
    this.#warnings.warn(cause, { code, remote: s.remoteAddress });
  }

  #secured(s: TLSSocket): void {
    const verdict = this.#verdict(s);
    if (verdict.refused !== undefined) {
      this.#refused.inc({ reason: verdict.refused });
      this.#warnings.warn(verdict.refused, { peer: verdict.peer, remote: s.remoteAddress });
      s.destroy();
      return;
    }
    this.#accepted.inc({ transport: "mtls" });
    this.#serve?.(s, verdict.identity);
  }

  /** The verified peer's SPIFFE ID, or why it is not a workload of this mesh. */
  #verdict(
    s: TLSSocket,
  ):
    | { identity: string; refused?: undefined }
    | { refused: "no_identity" | "foreign_trust_domain" | CertificateCause; peer?: string } {
    const cert = s.getPeerX509Certificate();
    const identity = cert === undefined ? undefined : spiffeIdOf(cert);
    if (cert === undefined || identity === undefined) return { refused: "no_identity" };
    if (parseSpiffeId(identity)?.trustDomain !== this.#material?.trustDomain)
      return { refused: "foreign_trust_domain", peer: identity };
    if (!issuedByMesh(cert, this.#material?.issuers)) return { refused: "foreign_issuer", peer: identity };
    return { identity };
  }
}

/** The chain verification result Node recorded on a socket (a code such as CERT_HAS_EXPIRED), if any. */
function verificationCode(s: TLSSocket): string | undefined {
  // Typed as an Error, set by Node as the code string.
  const e: unknown = s.authorizationError;
  if (typeof e === "string") return e;
  return e instanceof Error ? (e as NodeJS.ErrnoException).code : undefined;
}

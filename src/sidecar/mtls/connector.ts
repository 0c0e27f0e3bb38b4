import { X509Certificate } from "node:crypto";
import { connect, type PeerCertificate, type TLSSocket } from "node:tls";
import { spiffeIdOf } from "../../security/identity.ts";
import type { Connector } from "../engine/connect.ts";
import { issuedByMesh } from "./peer-issuer.ts";
import type { TlsMaterial } from "./workload-identity.ts";

/**
 * Originates mTLS to a peer sidecar's inbound port: TLS 1.3, this
 * workload's certificate, the peer verified against the trust bundle and
 * required to carry one of the destination service's SPIFFE IDs (its
 * `/service/` ID or an account its Service lists; not any mesh member),
 * and issued by the mesh CA (not another CA under the same root); the
 * identity is read as inbound reads it (spiffeIdOf: a DER certificate only).
 * TLS 1.3 session tickets of the endpoint are kept and offered again, so a
 * new pooled connection resumes instead of a full handshake.
 */
export function mtlsConnector(
  material: () => TlsMaterial | undefined,
  expected: string | ReadonlySet<string>,
): Connector {
  let session: Buffer | undefined;
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
    const socket: TLSSocket = connect({
      host,
      port,
      ...(m === undefined ? {} : { secureContext: m.context }),
      minVersion: "TLSv1.3",
      rejectUnauthorized: true,
      checkServerIdentity,
      ...(session === undefined ? {} : { session }),
    });
    socket.setNoDelay(true);
    socket.on("session", (s: Buffer) => {
      session = s;
    });
    return { socket, ready: "secureConnect" };
  };
}

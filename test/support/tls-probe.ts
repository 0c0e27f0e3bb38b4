import { X509Certificate } from "node:crypto";
import { connect as tlsConnect } from "node:tls";

/**
 * The certificate a TLS server on 127.0.0.1:`port` presents, trusting `ca` (no host-name check: a sidecar's
 * inbound port is named by its SPIFFE ID); undefined when the handshake failed.
 */
export function presentedCertificate(port: number, ca: string): Promise<X509Certificate | undefined> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: "127.0.0.1", port, ca, checkServerIdentity: () => undefined }, () => {
      const raw = s.getPeerCertificate().raw;
      s.destroy();
      resolve(raw === undefined ? undefined : new X509Certificate(raw));
    });
    s.on("error", () => resolve(undefined));
  });
}

/** Every certificate of a PEM bundle, in order. */
export function pemCertificates(pem: string): X509Certificate[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)].map(
    (m) => new X509Certificate(m[0]),
  );
}

import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { createSecureContext, createServer } from "node:tls";
import { CertificateAuthority, createRootCa } from "../../../src/security/ca.ts";
import { generateKeyPair } from "../../../src/security/keys.ts";
import { mtlsConnector } from "../../../src/sidecar/mtls/connector.ts";
import type { TlsMaterial } from "../../../src/sidecar/mtls/workload-identity.ts";

const TD = "cluster.local";

async function material(ca: CertificateAuthority, service: string): Promise<TlsMaterial> {
  const keys = generateKeyPair();
  const identity = `spiffe://${TD}/service/${service}`;
  const certChainPem = await ca.signWorkload(keys.publicKey, identity, { now: Date.now(), ttlMs: 3_600_000 });
  const keyPem = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return {
    identity,
    trustDomain: TD,
    keyPem,
    certChainPem,
    bundlePem: ca.rootPem,
    context: createSecureContext({ key: keyPem, cert: certChainPem, ca: ca.rootPem, minVersion: "TLSv1.3" }),
  };
}

/** Connects with the connector to a TLS server presenting `server`; resolves "ok" or the error code. */
async function dial(server: TlsMaterial, client: TlsMaterial, expected: string): Promise<string> {
  const srv = createServer({
    key: server.keyPem,
    cert: server.certChainPem,
    ca: server.bundlePem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
  });
  srv.on("secureConnection", (s) => s.end());
  srv.on("tlsClientError", () => {});
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  try {
    const { socket, ready } = mtlsConnector(() => client, expected)("127.0.0.1", (srv.address() as AddressInfo).port);
    return await new Promise<string>((resolve) => {
      socket.once(ready, () => {
        socket.destroy();
        resolve("ok");
      });
      socket.once("error", (e: NodeJS.ErrnoException) => resolve(String(e.code)));
    });
  } finally {
    srv.close();
  }
}

describe("outbound mTLS connector", () => {
  it("connects only to the destination's SPIFFE identity under the trusted root", async () => {
    const ca = CertificateAuthority.load(await createRootCa(TD, { now: Date.now(), ttlMs: 86_400_000 }));
    const other = CertificateAuthority.load(await createRootCa(TD, { now: Date.now(), ttlMs: 86_400_000 }));
    const web = await material(ca, "web");
    const reviews = await material(ca, "reviews");
    const ratings = await material(ca, "ratings");
    const foreign = await material(other, "reviews");
    const reviewsId = `spiffe://${TD}/service/reviews`;
    assert.equal(await dial(reviews, web, reviewsId), "ok");
    assert.equal(await dial(ratings, web, reviewsId), "ERR_TLS_PEER_IDENTITY", "another service of the mesh");
    // The right name under another CA: refused by chain verification (OpenSSL's code for an untrusted issuer).
    assert.match(await dial(foreign, web, reviewsId), /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
  });
});

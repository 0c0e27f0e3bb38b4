import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { createServer } from "node:tls";
import { CertificateAuthority, createRootCa } from "../../../src/security/ca.ts";
import { mtlsConnector } from "../../../src/sidecar/mtls/connector.ts";
import type { TlsMaterial } from "../../../src/sidecar/mtls/workload-identity.ts";
import { operatorPki, TD, workloadMaterial } from "./pki-fixture.ts";

async function material(ca: CertificateAuthority, service: string): Promise<TlsMaterial> {
  return workloadMaterial(ca, `spiffe://${TD}/service/${service}`, ca, [ca]);
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

  it("connects only to a peer whose certificate the mesh CA issued, not another intermediate under the same root", async () => {
    const { root, mesh, other } = await operatorPki();
    const reviewsId = `spiffe://${TD}/service/reviews`;
    const web = await workloadMaterial(mesh, `spiffe://${TD}/service/web`, root, [mesh]);
    const reviews = await workloadMaterial(mesh, reviewsId, root, [mesh]);
    const impostor = await workloadMaterial(other, reviewsId, root, [mesh]);
    assert.equal(await dial(reviews, web, reviewsId), "ok");
    assert.equal(await dial(impostor, web, reviewsId), "ERR_TLS_PEER_ISSUER");
    // Without a list (an older control plane) the root check stands alone: the impostor gets through.
    const webUnpinned = await workloadMaterial(mesh, `spiffe://${TD}/service/web`, root);
    assert.equal(await dial(impostor, webUnpinned, reviewsId), "ok");
  });
});

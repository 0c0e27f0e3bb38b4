import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { type AddressInfo, createServer as createTcpServer } from "node:net";
import { describe, it } from "node:test";
import { createSecureContext, createServer } from "node:tls";
import { pino } from "pino";
import type { Registry } from "prom-client";
import { createRegistry } from "../../../src/common/metrics.ts";
import { CertificateAuthority, createRootCa } from "../../../src/security/ca.ts";
import { generateKeyPair } from "../../../src/security/keys.ts";
import { mtlsConnector, OutboundTlsRefusals } from "../../../src/sidecar/mtls/connector.ts";
import type { TlsMaterial } from "../../../src/sidecar/mtls/workload-identity.ts";
import { operatorPki, TD, workloadMaterial } from "./pki-fixture.ts";

async function material(ca: CertificateAuthority, service: string): Promise<TlsMaterial> {
  return workloadMaterial(ca, `spiffe://${TD}/service/${service}`, ca, [ca]);
}

/** Connects with the connector to a TLS server presenting `server`; resolves "ok" or the error code. */
async function dial(
  server: TlsMaterial,
  client: TlsMaterial,
  expected: string,
  refusals?: OutboundTlsRefusals,
): Promise<string> {
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
    const { socket, ready } = mtlsConnector(
      () => client,
      expected,
      refusals,
    )("127.0.0.1", (srv.address() as AddressInfo).port);
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

describe("outbound mTLS refusals", () => {
  function refusals() {
    const registry = createRegistry({ processMetrics: false });
    const warnings: Record<string, unknown>[] = [];
    let now = 0;
    const logger = pino({ level: "info" }, { write: (l: string) => warnings.push(JSON.parse(l)) });
    const r = new OutboundTlsRefusals(registry, logger, () => now);
    const advance = (ms: number) => {
      now += ms;
    };
    return { r, registry, warnings, advance };
  }
  async function count(registry: Registry, reason: string): Promise<number> {
    const text = await registry.getSingleMetricAsString("meshlet_outbound_tls_refused_total");
    const line = text.split("\n").find((l) => l.includes(`reason="${reason}"`));
    return Number(line?.split(" ").pop() ?? 0);
  }

  it("a peer of the wrong identity, another issuer, an unknown CA or an expired certificate: counted by cause, warned with the endpoint", async () => {
    const { root, mesh, other } = await operatorPki();
    const stranger = CertificateAuthority.load(await createRootCa(TD, { now: Date.now(), ttlMs: 86_400_000 }));
    const reviewsId = `spiffe://${TD}/service/reviews`;
    const web = await workloadMaterial(mesh, `spiffe://${TD}/service/web`, root, [mesh]);
    const keys = generateKeyPair();
    const keyPem = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const expiredPem = await mesh.signWorkload(keys.publicKey, reviewsId, {
      now: Date.now() - 7_200_000,
      ttlMs: 3_600_000,
    });
    const expired: TlsMaterial = {
      ...web,
      keyPem,
      certChainPem: expiredPem,
      context: createSecureContext({ key: keyPem, cert: expiredPem, ca: root.rootPem }),
    };
    const { r, registry, warnings, advance } = refusals();
    assert.equal(
      await dial(await workloadMaterial(mesh, `spiffe://${TD}/service/ratings`, root), web, reviewsId, r),
      "ERR_TLS_PEER_IDENTITY",
    );
    assert.equal(await dial(await workloadMaterial(other, reviewsId, root), web, reviewsId, r), "ERR_TLS_PEER_ISSUER");
    assert.match(
      await dial(await workloadMaterial(stranger, reviewsId, stranger), web, reviewsId, r),
      /SELF_SIGNED|UNABLE/,
    );
    assert.equal(await dial(expired, web, reviewsId, r), "CERT_HAS_EXPIRED");
    assert.equal(await dial(expired, web, reviewsId, r), "CERT_HAS_EXPIRED");
    assert.equal(await dial(await workloadMaterial(mesh, reviewsId, root), web, reviewsId, r), "ok");
    assert.equal(await count(registry, "wrong_identity"), 1);
    assert.equal(await count(registry, "foreign_issuer"), 1);
    assert.equal(await count(registry, "unknown_ca"), 1);
    assert.equal(await count(registry, "expired"), 2);

    const wrong = warnings.find((w) => w.reason === "wrong_identity");
    assert.match(String(wrong?.endpoint), /^127\.0\.0\.1:\d+$/);
    assert.match(String(wrong?.detail), /service\/ratings, expected .*service\/reviews/);
    assert.equal(warnings.filter((w) => w.reason === "expired").length, 1, "once per cause per minute");
    advance(60_000);
    assert.equal(await dial(expired, web, reviewsId, r), "CERT_HAS_EXPIRED");
    assert.equal(warnings.filter((w) => w.reason === "expired").length, 2);
    assert.ok(!JSON.stringify(warnings).includes("BEGIN"), "no certificate or key in the log");
  });

  it("a network failure is not a TLS refusal", async () => {
    const { r, registry, warnings } = refusals();
    const tcp = createTcpServer((s) => s.destroy());
    await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
    const port = (tcp.address() as AddressInfo).port;
    try {
      const web = await material(
        CertificateAuthority.load(await createRootCa(TD, { now: Date.now(), ttlMs: 86_400_000 })),
        "web",
      );
      const { socket } = mtlsConnector(() => web, `spiffe://${TD}/service/reviews`, r)("127.0.0.1", port);
      const code = await new Promise<string>((resolve) =>
        socket.once("error", (e: NodeJS.ErrnoException) => resolve(String(e.code))),
      );
      assert.equal(code, "ECONNRESET");
    } finally {
      tcp.close();
    }
    assert.equal(
      (await registry.getSingleMetricAsString("meshlet_outbound_tls_refused_total")).includes("reason="),
      false,
    );
    assert.equal(warnings.length, 0);
  });
});

describe("outbound mTLS connector session tickets", () => {
  it("offers the endpoint's ticket again under the same bundle, not after the bundle changed (a rotation)", async () => {
    const ca = CertificateAuthority.load(await createRootCa(TD, { now: Date.now(), ttlMs: 86_400_000 }));
    const next = CertificateAuthority.load(await createRootCa(TD, { now: Date.now(), ttlMs: 86_400_000 }));
    const reviews = await material(ca, "reviews");
    const web = await material(ca, "web");
    // A server that keeps its ticket keys: whether a session resumes is the connector's choice alone.
    const srv = createServer({
      key: reviews.keyPem,
      cert: reviews.certChainPem,
      ca: `${ca.rootPem}${next.rootPem}`,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.3",
    });
    srv.on("secureConnection", (s) => {
      s.resume();
      s.on("end", () => s.end());
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    try {
      let current = web;
      const connect = mtlsConnector(() => current, `spiffe://${TD}/service/reviews`);
      const port = (srv.address() as AddressInfo).port;
      const reused = async () => {
        const { socket, ready } = connect("127.0.0.1", port);
        await new Promise((r) => socket.once(ready, r));
        const was = (socket as unknown as { isSessionReused(): boolean }).isSessionReused();
        // The ticket arrives after the handshake: wait for the close, by which it has been read.
        socket.end();
        await new Promise((r) => socket.once("close", r));
        return was;
      };
      assert.equal(await reused(), false);
      assert.equal(await reused(), true, "the same bundle: the ticket is offered and resumes");
      const bundlePem = `${next.rootPem}${ca.rootPem}`;
      current = {
        ...web,
        bundlePem,
        context: createSecureContext({ key: web.keyPem, cert: web.certChainPem, ca: bundlePem, minVersion: "TLSv1.3" }),
      };
      assert.equal(await reused(), false, "another bundle: a full handshake");
      assert.equal(await reused(), true, "a ticket got under the new bundle resumes");
      // The same roots, other issuing CAs (an intermediate rotated under the same root): a resumption would skip
      // the issuer check, so no ticket is offered.
      current = { ...current, issuers: [new X509Certificate(ca.certPem), new X509Certificate(next.certPem)] };
      assert.equal(await reused(), false, "other issuers: a full handshake");
      assert.equal(await reused(), true, "a ticket got under the new issuers resumes");
    } finally {
      srv.close();
    }
  });
});

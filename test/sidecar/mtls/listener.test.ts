import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { describe, test } from "node:test";
import { createSecureContext, type SecureContext, connect as tlsConnect } from "node:tls";
import { pino } from "pino";
import { silentLogger } from "../../../src/common/logger.ts";
import { createRegistry } from "../../../src/common/metrics.ts";
import type { MtlsMode } from "../../../src/config/resources.ts";
import { CertificateAuthority, createRootCa } from "../../../src/security/ca.ts";
import { generateKeyPair } from "../../../src/security/keys.ts";
import { InboundMtls } from "../../../src/sidecar/mtls/listener.ts";
import type { TlsMaterial } from "../../../src/sidecar/mtls/workload-identity.ts";
import { operatorPki, TD, workloadMaterial } from "./pki-fixture.ts";

/** An inbound port behind InboundMtls whose "HTTP engine" answers every connection it is handed with "served". */
async function inboundPort(mode: MtlsMode, material?: TlsMaterial) {
  const registry = createRegistry({ processMetrics: false });
  const warnings: Record<string, unknown>[] = [];
  const logger = pino({ level: "info" }, { write: (l: string) => warnings.push(JSON.parse(l)) });
  let now = 0;
  const inbound = new InboundMtls(registry, logger, () => now);
  inbound.setMode(mode);
  if (material !== undefined) inbound.use(material);
  const server = createServer((socket) =>
    inbound.accept(socket, (stream) => {
      stream.once("data", () => stream.end("served"));
    }),
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  const refused = async (reason: string) => {
    const line = (await registry.getSingleMetricAsString("meshlet_inbound_tls_refused_total"))
      .split("\n")
      .find((l) => l.includes(`reason="${reason}"`));
    return Number(line?.split(" ").pop() ?? 0);
  };
  const advance = (ms: number) => {
    now += ms;
  };
  return { port, refused, warnings, advance, close: () => new Promise((r) => server.close(r)) };
}

/** What a plain-text client gets back for one request: the bytes until the sidecar closes. */
async function plainRequest(port: number): Promise<string> {
  const socket: Socket = connect(port, "127.0.0.1");
  socket.on("error", () => undefined);
  socket.write("GET /secret HTTP/1.1\r\nhost: reviews\r\n\r\n");
  let got = "";
  socket.on("data", (d: Buffer) => {
    got += d.toString();
  });
  await once(socket, "close");
  return got;
}

describe("InboundMtls before the workload certificate", () => {
  test("STRICT refuses plain text while the sidecar has no certificate yet, and counts it", async (t) => {
    const p = await inboundPort("STRICT");
    t.after(p.close);
    assert.equal(await plainRequest(p.port), "");
    assert.equal(await p.refused("no_certificate"), 1);
  });

  test("PERMISSIVE and DISABLE serve plain text without a certificate", async (t) => {
    for (const mode of ["PERMISSIVE", "DISABLE"] as const) {
      const p = await inboundPort(mode);
      t.after(p.close);
      assert.equal(await plainRequest(p.port), "served", mode);
      assert.equal(await p.refused("no_certificate"), 0, mode);
    }
  });
});

/** What a TLS client holding `client` gets back for one request on the inbound port. */
async function tlsRequest(port: number, client: TlsMaterial | SecureContext): Promise<string> {
  const socket = tlsConnect({
    host: "127.0.0.1",
    port,
    secureContext: "keyPem" in client ? client.context : client,
    checkServerIdentity: () => undefined,
  });
  socket.on("error", () => undefined);
  socket.write("GET /secret HTTP/1.1\r\nhost: reviews\r\n\r\n");
  let got = "";
  socket.on("data", (d: Buffer) => {
    got += d.toString();
  });
  // Not events.once: it rejects on the "error" a refused client sees (the server's alert).
  await new Promise((resolve) => socket.once("close", resolve));
  return got;
}

describe("InboundMtls accepts only workloads of this mesh", () => {
  test("a certificate from another intermediate under the bundle's root, or of another trust domain, is refused", async (t) => {
    const { root, mesh, other } = await operatorPki();
    const p = await inboundPort("STRICT", await workloadMaterial(mesh, `spiffe://${TD}/service/reviews`, root, [mesh]));
    t.after(p.close);
    const web = `spiffe://${TD}/service/web`;
    assert.equal(await tlsRequest(p.port, await workloadMaterial(mesh, web, root)), "served");
    assert.equal(await tlsRequest(p.port, await workloadMaterial(other, web, root)), "");
    assert.equal(await p.refused("foreign_issuer"), 1);
    assert.equal(
      await tlsRequest(p.port, await workloadMaterial(mesh, "spiffe://other.example/service/web", root)),
      "",
    );
    assert.equal(await p.refused("foreign_trust_domain"), 1);
  });
});

describe("InboundMtls says why a client certificate was refused", () => {
  /** A client context holding `certPem` for `keyPem`, trusting `root` (so the client itself accepts the sidecar). */
  const clientContext = (keyPem: string, certPem: string, root: CertificateAuthority) =>
    createSecureContext({ key: keyPem, cert: certPem, ca: root.rootPem, minVersion: "TLSv1.3" });

  test("expired, from an unknown CA, or none at all: each refused and counted by its cause, warned once a minute", async (t) => {
    const ca = CertificateAuthority.load(await createRootCa(TD, { now: Date.now(), ttlMs: 86_400_000 }));
    const stranger = CertificateAuthority.load(await createRootCa(TD, { now: Date.now(), ttlMs: 86_400_000 }));
    const p = await inboundPort("STRICT", await workloadMaterial(ca, `spiffe://${TD}/service/reviews`, ca, [ca]));
    t.after(p.close);
    const web = `spiffe://${TD}/service/web`;
    const keys = generateKeyPair();
    const keyPem = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const expiredPem = await ca.signWorkload(keys.publicKey, web, { now: Date.now() - 7_200_000, ttlMs: 3_600_000 });
    const expired = clientContext(keyPem, expiredPem, ca);
    const foreign = await workloadMaterial(stranger, web, stranger);
    const unknownCa = clientContext(foreign.keyPem, foreign.certChainPem, ca);
    const noCertificate = createSecureContext({ ca: ca.rootPem, minVersion: "TLSv1.3" });

    assert.equal(await tlsRequest(p.port, expired), "");
    assert.equal(await tlsRequest(p.port, expired), "");
    assert.equal(await tlsRequest(p.port, unknownCa), "");
    assert.equal(await tlsRequest(p.port, noCertificate), "");
    assert.equal(await tlsRequest(p.port, await workloadMaterial(ca, web, ca, [ca])), "served");
    assert.equal(await p.refused("expired"), 2);
    assert.equal(await p.refused("unknown_ca"), 1);
    assert.equal(await p.refused("no_client_certificate"), 1);
    assert.equal(await p.refused("handshake"), 0);

    const warned = (reason: string) => p.warnings.filter((w) => w.reason === reason);
    assert.equal(warned("expired").length, 1, "the second expired client within a minute is not logged again");
    assert.equal(warned("expired")[0]?.code, "CERT_HAS_EXPIRED");
    assert.equal(warned("expired")[0]?.level, 40);
    assert.equal(warned("unknown_ca").length, 1);
    assert.equal(warned("no_client_certificate").length, 1);
    p.advance(60_000);
    assert.equal(await tlsRequest(p.port, expired), "");
    assert.equal(warned("expired").length, 2);
    assert.equal(warned("expired")[1]?.suppressed, 1);
    const logged = JSON.stringify(p.warnings);
    assert.ok(!logged.includes("BEGIN") && !logged.includes(keyPem.slice(40, 80)), "no certificate or key in the log");
  });
});

/** Connects with `client` (offering `session`), sends a request; whether the session was resumed, and the new ticket. */
async function resumeWith(
  port: number,
  client: TlsMaterial,
  session: Buffer | undefined,
): Promise<{ reused: boolean; session: Buffer | undefined }> {
  const socket = tlsConnect({
    host: "127.0.0.1",
    port,
    secureContext: client.context,
    checkServerIdentity: () => undefined,
    ...(session === undefined ? {} : { session }),
  });
  let ticket: Buffer | undefined;
  socket.on("session", (s: Buffer) => {
    ticket = s;
  });
  socket.on("error", () => undefined);
  await once(socket, "secureConnect");
  const reused = socket.isSessionReused();
  socket.resume();
  socket.write("GET / HTTP/1.1\r\nhost: reviews\r\n\r\n");
  await once(socket, "close");
  return { reused, session: ticket };
}

test("a renewal under the same trust keeps the session-ticket keys: a ticket from before it resumes", async (t) => {
  const { root, mesh } = await operatorPki();
  const reviews = `spiffe://${TD}/service/reviews`;
  const registry = createRegistry({ processMetrics: false });
  const inbound = new InboundMtls(registry, silentLogger(), () => 0);
  inbound.use(await workloadMaterial(mesh, reviews, root, [mesh]));
  const server = createServer((socket) =>
    inbound.accept(socket, (stream) => stream.once("data", () => stream.end("served"))),
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const web = await workloadMaterial(mesh, `spiffe://${TD}/service/web`, root);

  const first = await resumeWith(port, web, undefined);
  assert.equal(first.reused, false);
  inbound.use(await workloadMaterial(mesh, reviews, root, [mesh]));
  const afterRenewal = await resumeWith(port, web, first.session);
  assert.equal(afterRenewal.reused, true, "a ticket from before the renewal resumes");
});

/** `material` trusting the roots of `roots` and accepting peers issued by `issuers` (a rotation's overlap: two). */
function trusting(material: TlsMaterial, roots: CertificateAuthority[], issuers: CertificateAuthority[]): TlsMaterial {
  const bundlePem = roots.map((r) => r.rootPem).join("");
  return {
    ...material,
    bundlePem,
    context: createSecureContext({
      key: material.keyPem,
      cert: material.certChainPem,
      ca: bundlePem,
      minVersion: "TLSv1.3",
    }),
    issuers: issuers.map((c) => new X509Certificate(c.certPem)),
  };
}

test("the end of a rotation's overlap takes new ticket keys: a session begun under the old root is not resumed", async (t) => {
  const now = Date.now();
  const old = CertificateAuthority.load(await createRootCa(TD, { now, ttlMs: 86_400_000 }));
  const next = CertificateAuthority.load(await createRootCa(TD, { now, ttlMs: 86_400_000 }));
  const reviews = `spiffe://${TD}/service/reviews`;
  const web = `spiffe://${TD}/service/web`;
  const inbound = new InboundMtls(createRegistry({ processMetrics: false }), silentLogger(), () => 0);
  // The overlap: both roots trusted, both CAs accepted as issuers.
  inbound.use(trusting(await workloadMaterial(next, reviews, next), [next, old], [next, old]));
  const server = createServer((socket) =>
    inbound.accept(socket, (stream) => stream.once("data", () => stream.end("served"))),
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  // A caller still holding its certificate from the old root.
  const begun = await resumeWith(
    port,
    trusting(await workloadMaterial(old, web, old), [next, old], [next, old]),
    undefined,
  );
  assert.ok(begun.session);
  // The overlap ends: the new root alone. The caller has its new certificate and offers its old ticket.
  inbound.use(trusting(await workloadMaterial(next, reviews, next), [next], [next]));
  const renewed = trusting(await workloadMaterial(next, web, next), [next], [next]);
  const after = await resumeWith(port, renewed, begun.session);
  assert.equal(after.reused, false, "a full handshake, with the certificate the caller holds now");
  // A ticket got under the same trust still resumes.
  assert.equal((await resumeWith(port, renewed, after.session)).reused, true);
});

test("an operator's intermediate rotated under the same root: the end of the overlap also takes new ticket keys", async (t) => {
  const { root, mesh, other } = await operatorPki();
  const reviews = `spiffe://${TD}/service/reviews`;
  const web = `spiffe://${TD}/service/web`;
  const inbound = new InboundMtls(createRegistry({ processMetrics: false }), silentLogger(), () => 0);
  // `other` replaced `mesh` as the mesh CA; the bundle (the root) is the same before and after the overlap.
  inbound.use(trusting(await workloadMaterial(other, reviews, root), [root], [other, mesh]));
  const server = createServer((socket) =>
    inbound.accept(socket, (stream) => stream.once("data", () => stream.end("served"))),
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const begun = await resumeWith(
    port,
    trusting(await workloadMaterial(mesh, web, root), [root], [other, mesh]),
    undefined,
  );
  inbound.use(trusting(await workloadMaterial(other, reviews, root), [root], [other]));
  const renewed = trusting(await workloadMaterial(other, web, root), [root], [other]);
  assert.equal((await resumeWith(port, renewed, begun.session)).reused, false);
});

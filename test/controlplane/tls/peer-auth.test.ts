import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { type AddressInfo, connect as netConnect } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { Registry } from "prom-client";
import { silentLogger } from "../../../src/common/logger.ts";
import { NodeIdentity } from "../../../src/controlplane/tls/node-identity.ts";
import { PeerAuth } from "../../../src/controlplane/tls/peer-auth.ts";
import { CertificateAuthority, createRootCa } from "../../../src/security/ca.ts";
import { generateKeyPair, privateKeyPem } from "../../../src/security/keys.ts";
import { selfSignedNodeCertificate } from "../../../src/security/node-cert.ts";
import { splitPem } from "../../../src/security/pem.ts";

const NOW = Date.now();
const CLUSTER = "c-0123456789abcdef";

/** What judge() reads of a TLS socket: the peer's certificate, and whether it chained to the context's CA. */
function socket(pem: string | undefined, authorized: boolean): TLSSocket {
  const cert = pem === undefined ? undefined : new X509Certificate(splitPem(pem, "CERTIFICATE")[0] ?? "");
  return { getPeerX509Certificate: () => cert, authorized } as unknown as TLSSocket;
}

test("peer verdicts: node certificates of this cluster under the mesh CA; founders' self-signed ones only in the window", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "meshlet-peer-auth-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = CertificateAuthority.load(await createRootCa("cluster.local", { now: NOW, ttlMs: 86_400_000 }));
  const identity = await NodeIdentity.open(
    dir,
    { nodeId: "n1", clusterId: CLUSTER },
    ["127.0.0.1"],
    NOW,
    silentLogger(),
  );
  let now = NOW;
  const auth = new PeerAuth({
    identity,
    founders: new Set(["n1", "n2", "n3"]),
    foundingUntil: NOW + 60_000,
    now: () => now,
    isMember: () => true,
    registry: new Registry(),
    logger: silentLogger(),
  });
  const key = () => generateKeyPair();
  const o = { now: NOW, ttlMs: 3_600_000 };
  const n2Self = await selfSignedNodeCertificate(key(), { nodeId: "n2", clusterId: CLUSTER }, ["127.0.0.1"], o);
  const n9Self = await selfSignedNodeCertificate(key(), { nodeId: "n9", clusterId: CLUSTER }, ["127.0.0.1"], o);
  const otherSelf = await selfSignedNodeCertificate(key(), { nodeId: "n2", clusterId: "c-other" }, ["127.0.0.1"], o);
  const n4 = await ca.signNode(key().publicKey, { nodeId: "n4", clusterId: CLUSTER }, ["127.0.0.1"], o);
  const workload = await ca.signWorkload(key().publicKey, "spiffe://cluster.local/service/web", o);

  assert.deepEqual(auth.judge(socket(undefined, false)), { ok: false, reason: "no_certificate" });
  assert.deepEqual(auth.judge(socket(workload, true)), { ok: false, reason: "not_node_certificate" });
  assert.deepEqual(auth.judge(socket(otherSelf, false)), { ok: false, reason: "other_cluster" });
  assert.deepEqual(auth.judge(socket(n2Self, false)), { ok: true, nodeId: "n2", via: "founding" });
  assert.deepEqual(auth.judge(socket(n9Self, false)), { ok: false, reason: "untrusted_issuer" }, "not a founder");
  // Before this node knows the CA, "authorized" means nothing (Node's default roots): a CA-signed joiner waits.
  assert.deepEqual(auth.judge(socket(n4, true)), { ok: false, reason: "untrusted_issuer" });
  // A founder that applied the CA before this node did: taken in the window, or this node never gets the log.
  const n3 = await ca.signNode(key().publicKey, { nodeId: "n3", clusterId: CLUSTER }, ["127.0.0.1"], o);
  assert.deepEqual(auth.judge(socket(n3, false)), { ok: true, nodeId: "n3", via: "founding" });

  await identity.adoptCa(ca, ca.rootPem, "", NOW);
  assert.deepEqual(auth.judge(socket(n4, true)), { ok: true, nodeId: "n4", via: "mesh_ca" });
  assert.deepEqual(auth.judge(socket(n4, false)), { ok: false, reason: "untrusted_issuer" }, "not chained to the CA");
  assert.deepEqual(auth.judge(socket(n3, true)), { ok: true, nodeId: "n3", via: "mesh_ca" });

  now = NOW + 60_000;
  assert.equal(auth.foundingOpen(), false);
  assert.deepEqual(auth.judge(socket(n2Self, false)), { ok: false, reason: "untrusted_issuer" }, "window closed");
  assert.deepEqual(auth.judge(socket(n4, true)), { ok: true, nodeId: "n4", via: "mesh_ca" });
});

/** What remember() and the guard read of a server-side TLS socket: the peer's certificate, its address, close. */
function serverSocket(pem: string, port: number): TLSSocket & { destroyed: boolean } {
  const cert = new X509Certificate(splitPem(pem, "CERTIFICATE")[0] ?? "");
  const s = Object.assign(new EventEmitter(), {
    getPeerX509Certificate: () => cert,
    authorized: true,
    remoteAddress: "127.0.0.1",
    remotePort: port,
    destroyed: false,
    destroy() {
      s.destroyed = true;
      s.emit("close");
    },
  });
  return s as unknown as TLSSocket & { destroyed: boolean };
}

async function meshNode(t: { after(fn: () => void): void }, members: Set<string>) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "meshlet-peer-auth-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = CertificateAuthority.load(await createRootCa("cluster.local", { now: NOW, ttlMs: 86_400_000 }));
  const identity = await NodeIdentity.open(
    dir,
    { nodeId: "n1", clusterId: CLUSTER },
    ["127.0.0.1"],
    NOW,
    silentLogger(),
  );
  await identity.adoptCa(ca, ca.rootPem, "", NOW);
  const registry = new Registry();
  const auth = new PeerAuth({
    identity,
    founders: new Set(),
    foundingUntil: 0,
    now: () => NOW,
    isMember: (id) => members.has(id),
    registry,
    logger: silentLogger(),
  });
  const issue = (nodeId: string) =>
    ca.signNode(generateKeyPair().publicKey, { nodeId, clusterId: CLUSTER }, ["127.0.0.1"], {
      now: NOW,
      ttlMs: 3_600_000,
    });
  const refusals = async () =>
    Object.fromEntries(
      (await registry.getSingleMetric("meshlet_control_peer_refusals_total")?.get())?.values.map((v) => [
        `${v.labels.rpc}/${v.labels.reason}`,
        v.value,
      ]) ?? [],
    );
  return { auth, ca, issue, refusals };
}

/** A guarded handler's outcome: "served", or the gRPC status code it was refused with. */
function call(handler: unknown, peer: string): number | "served" {
  let outcome: number | "served" = "served";
  (handler as (c: unknown, cb: (e: { code: number } | null) => void) => void)(
    { getPeer: () => peer, emit: () => true },
    (e) => {
      if (e !== null) outcome = e.code;
    },
  );
  return outcome;
}

test("a removed member's certificate is refused at its next call, and its open connections are closed", async (t) => {
  const members = new Set(["n1", "n2", "n3"]);
  const { auth, issue, refusals } = await meshNode(t, members);
  const services: Record<string, unknown> = {};
  auth.guard((_service, impl) => Object.assign(services, impl))(
    { Forward: { path: "/meshlet.raft.v1.Raft/Forward" } } as never,
    { Forward: (_c: unknown, cb: (e: null) => void) => cb(null) } as never,
  );
  const n3 = serverSocket(await issue("n3"), 40003);
  const n2 = serverSocket(await issue("n2"), 40002);
  auth.remember(n3);
  auth.remember(n2);
  assert.equal(call(services.Forward, "127.0.0.1:40003"), "served");

  members.delete("n3");
  assert.equal(call(services.Forward, "127.0.0.1:40003"), 16, "refused on the connection it already had");
  assert.equal(auth.senderOf({ getPeer: () => "127.0.0.1:40003" }), undefined, "its Raft messages are dropped");
  auth.enforceMembership();
  assert.equal(n3.destroyed, true, "the removed member's connection is closed");
  assert.equal(n2.destroyed, false, "a member's is not");
  assert.equal(call(services.Forward, "127.0.0.1:40002"), "served");
  assert.deepEqual(await refusals(), { "raft_forward/not_member": 1, "connection/not_member": 1 });
});

test("every method of the Raft service is guarded, listed or not; other services' unlisted methods are not", async (t) => {
  const { auth } = await meshNode(t, new Set(["n1"]));
  const services: Record<string, unknown> = {};
  const ok = (_c: unknown, cb: (e: null) => void) => cb(null);
  const add = auth.guard((_service, impl) => Object.assign(services, impl));
  add({ Future: { path: "/meshlet.raft.v1.Raft/Future" } } as never, { Future: ok } as never);
  add({ Other: { path: "/meshlet.discovery.v1.Discovery/Other" } } as never, { Other: ok } as never);
  assert.equal(call(services.Future, "127.0.0.1:1"), 16, "a Raft method added later is denied by default");
  assert.equal(call(services.Other, "127.0.0.1:1"), "served", "not a peer call: left to the token guard");
});

test("dialling a peer: its certificate must name the node that was dialled", async (t) => {
  const { auth, ca, refusals } = await meshNode(t, new Set(["n1", "n2", "n3"]));
  const key = generateKeyPair();
  const n2Cert = await ca.signNode(key.publicKey, { nodeId: "n2", clusterId: CLUSTER }, ["127.0.0.1"], {
    now: NOW,
    ttlMs: 3_600_000,
  });
  const server = createTlsServer({ key: privateKeyPem(key.privateKey), cert: n2Cert, ALPNProtocols: ["h2"] });
  server.on("secureConnection", (s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const dial = (expected: string) =>
    new Promise<string>((resolve) => {
      const socket = netConnect(port, "127.0.0.1", () => {
        const connector = auth.credentials(expected)._createSecureConnector(undefined, undefined);
        connector.connect(socket).then(
          ({ socket: s }) => {
            s.destroy();
            resolve("accepted");
          },
          (err: Error) => resolve(err.message),
        );
      });
    });
  assert.equal(await dial("n2"), "accepted");
  assert.match(await dial("n3"), /names node n2, not n3 that was dialled \(wrong_node\)/);
  assert.deepEqual(await refusals(), { "dial/wrong_node": 1 });
});

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { connect as netConnect } from "node:net";
import * as path from "node:path";
import { test } from "node:test";
import { type ChannelCredentials, credentials, type ServiceError } from "@grpc/grpc-js";
import { Registry } from "prom-client";
import { silentLogger } from "../../src/common/logger.ts";
import { discoveryProto } from "../../src/config/discovery-proto.ts";
import { NodeIdentity } from "../../src/controlplane/tls/node-identity.ts";
import { PeerAuth } from "../../src/controlplane/tls/peer-auth.ts";
import { raftProto } from "../../src/raft-node/raft-proto.ts";
import { createRootCa } from "../../src/security/ca.ts";
import { controlPlaneCredentials } from "../../src/security/control-plane-tls.ts";
import { FAST_FLAGS, get, leaderOf, makeCluster, put, until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { caFileOf } from "../support/control-auth.ts";
import { memberCredentials } from "../support/control-grpc.ts";

/** The cluster id of a node, from its certificate (the harness does not know it). */
function clusterIdOf(dataDir: string): string {
  const pem = readFileSync(path.join(dataDir, "node-cert.pem"), "utf8");
  return /OU=([^\n]+)/.exec(new X509Certificate(pem).subject)?.[1] ?? "";
}

/**
 * A would-be peer with a self-signed certificate naming `nodeId` of `clusterId`. It knows the mesh CA (ca.pem
 * copied into its dir), so it accepts the node's certificate: what is under test is the node's verdict on it.
 */
async function selfSignedPeer(root: string, name: string, ca: string, nodeId: string, clusterId: string) {
  const dir = path.join(root, name);
  mkdirSync(dir);
  copyFileSync(ca, path.join(dir, "ca.pem"));
  const identity = await NodeIdentity.open(dir, { nodeId, clusterId }, ["127.0.0.1"], Date.now(), silentLogger());
  return new PeerAuth({
    identity,
    founders: new Set([nodeId]),
    foundingUntil: 0,
    now: () => Date.now(),
    isMember: () => true,
    registry: new Registry(),
    logger: silentLogger(),
  }).credentials();
}

/** Raft's Forward on `address`: the gRPC status code and message it answered with. */
function forward(
  address: string,
  creds: ChannelCredentials,
  clusterId: string,
): Promise<{ code: number; details: string }> {
  const Raft = raftProto().meshlet.raft.v1.Raft;
  const client = new Raft(address, creds);
  return new Promise((resolve) => {
    client.Forward(
      { clusterId, data: Buffer.from("x"), confChange: false },
      { deadline: Date.now() + 5_000 },
      (err) => {
        client.close();
        resolve({ code: err === null ? 0 : (err as ServiceError).code, details: err === null ? "" : err.details });
      },
    );
  });
}

function rawHttp(address: string): Promise<string> {
  const [host, port] = address.split(":");
  return new Promise((resolve, reject) => {
    const socket = netConnect(Number(port), host ?? "127.0.0.1", () =>
      socket.write("GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
    );
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    socket.on("error", reject);
  });
}

test("the control plane serves TLS: plain HTTP and gRPC are told so, the CLI trusts --ca-file, a wrong CA fails, peers need a node certificate", async (t) => {
  const c = await makeCluster(1, [...FAST_FLAGS, "--founding-window", "0s"]);
  t.after(() => c.stopAll());
  const [n1] = c.nodes;
  assert.ok(n1);
  c.start(n1);
  await leaderOf([n1]);
  const ca = caFileOf(n1.dataDir);

  // Plain HTTP on the HTTPS port: a 400 a person can read, not a TLS alert.
  const plain = await rawHttp(n1.http);
  assert.match(plain, /^HTTP\/1\.1 400 /);
  assert.match(plain, /"code":"ERR_TLS_REQUIRED"/);

  // Plain gRPC (h2c) on the TLS gRPC port: UNAVAILABLE, saying why.
  const Discovery = discoveryProto().meshlet.discovery.v1.Discovery;
  const plainClient = new Discovery(n1.grpc, credentials.createInsecure());
  const plainErr = await new Promise<ServiceError>((resolve) =>
    plainClient.ListSidecars({ configKey: "" }, { deadline: Date.now() + 5_000 }, (err) =>
      resolve(err as ServiceError),
    ),
  );
  plainClient.close();
  assert.equal(plainErr.code, 14);
  assert.match(plainErr.details, /serves TLS only/);

  // The CLI with the mesh CA (bare HOST:PORT means https).
  const ok = await runCli(["cluster", "status", "--server", n1.http, "--ca-file", ca, "-o", "json"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((JSON.parse(ok.stdout) as { leader: string }).leader, "n1");

  // Another CA: the server's certificate is not trusted, the command fails as "not reachable" and says why.
  const other = await createRootCa("other.local", { now: Date.now(), ttlMs: 3_600_000 });
  const otherFile = path.join(c.root, "other-ca.pem");
  writeFileSync(otherFile, other.certChainPem);
  const wrong = await runCli(["cluster", "status", "--server", `https://${n1.http}`, "--ca-file", otherFile]);
  assert.equal(wrong.code, 3, wrong.stderr);
  assert.match(wrong.stderr, /certificate/i);

  // A sidecar-like client with the right CA but no node certificate: peer calls are refused.
  const clusterId = clusterIdOf(n1.dataDir);
  const asClient = await forward(n1.grpc, controlPlaneCredentials(readFileSync(ca)), clusterId);
  assert.equal(asClient.code, 16, asClient.details);
  assert.match(asClient.details, /node certificate/);

  // A self-signed node certificate naming a founding member, after the founding window (0s here): refused.
  const impostor = await selfSignedPeer(c.root, "impostor", ca, "n1", clusterId);
  const selfSigned = await forward(n1.grpc, impostor, clusterId);
  assert.equal(selfSigned.code, 16, selfSigned.details);
  assert.match(selfSigned.details, /untrusted_issuer/);

  const metrics = await (await fetch(`https://${n1.http}/metrics`)).text();
  assert.match(metrics, /meshlet_control_tls_refused_total\{surface="http",reason="plaintext"\} [1-9]/);
  assert.match(metrics, /meshlet_control_tls_refused_total\{surface="grpc",reason="plaintext"\} [1-9]/);
  assert.match(metrics, /meshlet_control_peer_refusals_total\{rpc="raft_forward",reason="no_certificate"\} 1/);
  assert.match(metrics, /meshlet_control_peer_refusals_total\{rpc="raft_forward",reason="untrusted_issuer"\} 1/);
});

test("founding window: a founding member's self-signed certificate is accepted while it is open, and a node certificate from the mesh CA always", async (t) => {
  const c = await makeCluster(1, [...FAST_FLAGS, "--founding-window", "10m"]);
  t.after(() => c.stopAll());
  const [n1] = c.nodes;
  assert.ok(n1);
  c.start(n1);
  await leaderOf([n1]);
  const clusterId = clusterIdOf(n1.dataDir);
  const founder = await selfSignedPeer(c.root, "founder", caFileOf(n1.dataDir), "n1", clusterId);
  // Accepted as a peer: Forward runs (whatever the proposal's fate), no UNAUTHENTICATED.
  const res = await forward(n1.grpc, founder, clusterId);
  assert.notEqual(res.code, 16, res.details);
  assert.notEqual(res.code, 14, res.details);
});

test("--insecure keeps plain HTTP and gRPC and warns at every start", async (t) => {
  const c = await makeCluster(1, [...FAST_FLAGS, "--insecure", "--log-level", "warn"]);
  t.after(() => c.stopAll());
  const [n1] = c.nodes;
  assert.ok(n1);
  c.start(n1);
  const token = await until("the admin token", async () => {
    try {
      return readFileSync(path.join(n1.dataDir, "admin-token"), "utf8").trim() || undefined;
    } catch {
      return undefined;
    }
  });
  const view = await until("a leader over plain HTTP", async () => {
    const r = await fetch(`http://${n1.http}/v1/cluster`, { headers: { authorization: `Bearer ${token}` } }).catch(
      () => undefined,
    );
    return r?.ok === true ? ((await r.json()) as { leader: string }) : undefined;
  });
  assert.equal(view.leader, "n1");
  assert.match(n1.log.join(""), /--insecure: the control plane serves plain HTTP and gRPC/);
});

test("after the founding window members keep talking: a leader killed and restarted reconnects with its CA certificate", async (t) => {
  // 8 s: three nodes starting on a loaded 2-core CI machine took longer than 2 s to exchange certificates, and a
  // window that closes before that leaves the founders refusing each other (no leader).
  const windowMs = 8_000;
  const c = await makeCluster(3, [...FAST_FLAGS, "--founding-window", `${windowMs}ms`]);
  t.after(() => c.stopAll());
  const startedAt = Date.now();
  for (const n of c.nodes) c.start(n);
  const leader = await leaderOf(c.nodes);
  // Every node has the CA's certificate, then the window closes: self-signed certificates are refused from now on.
  await until("every node holds a certificate from the mesh CA", async () =>
    c.nodes.every((n) => {
      const cert = new X509Certificate(readFileSync(path.join(n.dataDir, "node-cert.pem"), "utf8"));
      return cert.issuer !== cert.subject;
    })
      ? true
      : undefined,
  );
  await new Promise((r) => setTimeout(r, Math.max(0, startedAt + windowMs + 500 - Date.now())));
  assert.equal((await put(leader, "app/a", "one")).status, 200);
  await c.kill9(leader);
  const others = c.nodes.filter((n) => n !== leader);
  const next = await leaderOf(others, 15_000);
  assert.equal((await put(next, "app/b", "two")).status, 200);
  c.start(leader);
  const caughtUp = await until("the restarted node catches up", async () => {
    const r = await get(leader, "app/b", true);
    return r.status === 200 ? r.text() : undefined;
  });
  assert.equal(caughtUp, "two");
  const metrics = await (await fetch(`https://${next.http}/metrics`)).text();
  assert.doesNotMatch(metrics, /meshlet_control_peer_refusals_total\{[^}]*\} [1-9]/, "no member was refused");
});

/** Peer credentials made of a node's own key and certificate (its data dir's), as that node presents them. */
async function credentialsOf(root: string, from: string, nodeId: string, clusterId: string) {
  const dir = path.join(root, `${nodeId}-copy`);
  mkdirSync(dir);
  for (const f of ["node-key.pem", "node-cert.pem", "ca.pem"]) copyFileSync(path.join(from, f), path.join(dir, f));
  const identity = await NodeIdentity.open(dir, { nodeId, clusterId }, ["127.0.0.1"], Date.now(), silentLogger());
  assert.equal(identity.material().fromMeshCa, true, "the node's certificate from the mesh CA");
  return memberCredentials(identity);
}

test("removing a member cuts its certificate off: its calls are refused and its connections closed, counted", async (t) => {
  const c = await makeCluster(3, [...FAST_FLAGS, "--founding-window", "2s"]);
  t.after(() => c.stopAll());
  for (const n of c.nodes) c.start(n);
  const leader = await leaderOf(c.nodes);
  const victim = c.nodes.find((n) => n !== leader);
  assert.ok(victim);
  const clusterId = clusterIdOf(leader.dataDir);
  await until("the victim holds a certificate from the mesh CA", async () => {
    const cert = new X509Certificate(readFileSync(path.join(victim.dataDir, "node-cert.pem"), "utf8"));
    return cert.issuer !== cert.subject ? true : undefined;
  });
  const asVictim = await credentialsOf(c.root, victim.dataDir, victim.id, clusterId);
  const before = await forward(leader.grpc, asVictim, clusterId);
  assert.notEqual(before.code, 16, `a member's certificate is taken: ${before.details}`);

  const removed = await runCli(["cluster", "remove", victim.id, "--server", `https://${leader.http}`]);
  assert.equal(removed.code, 0, removed.stderr);
  const after = await forward(leader.grpc, asVictim, clusterId);
  assert.equal(after.code, 16, after.details);
  assert.match(after.details, /not_member/);
  const metrics = await until("the refusal and the closed connection are counted", async () => {
    const text = await (await fetch(`https://${leader.http}/metrics`)).text();
    return /rpc="connection",reason="not_member"\} [1-9]/.test(text) ? text : undefined;
  });
  assert.match(metrics, /meshlet_control_peer_refusals_total\{rpc="raft_forward",reason="not_member"\} [1-9]/);
});

test("POST /v1/cluster/node-certificates signs for members only, and only the names they may claim", async (t) => {
  const c = await makeCluster(1, [...FAST_FLAGS, "--founding-window", "0s"]);
  t.after(() => c.stopAll());
  const [n1] = c.nodes;
  assert.ok(n1);
  c.start(n1);
  await leaderOf([n1]);
  const clusterId = clusterIdOf(n1.dataDir);
  mkdirSync(path.join(c.root, "asker"));
  const identity = await NodeIdentity.open(
    path.join(c.root, "asker"),
    { nodeId: "n9", clusterId },
    ["127.0.0.1"],
    Date.now(),
    silentLogger(),
  );
  const ask = async (id: string, names: string[]) => {
    const res = await fetch(`https://${n1.http}/v1/cluster/node-certificates`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...identity.request(), id, names }),
    });
    return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string } } };
  };
  const stranger = await ask("n9", ["127.0.0.1"]);
  assert.equal(stranger.status, 403);
  assert.equal(stranger.body.error?.code, "ERR_NODE_CERT_NOT_MEMBER");
  const greedy = await ask("n1", ["127.0.0.1", "evil.example.com"]);
  assert.equal(greedy.status, 403);
  assert.equal(greedy.body.error?.code, "ERR_NODE_CERT_NAMES");
  assert.match(greedy.body.error?.message ?? "", /may not claim evil\.example\.com/);
  const own = await ask("n1", ["127.0.0.1", "localhost", "n1"]);
  assert.equal(own.status, 200, JSON.stringify(own.body));
  const anonymous = await fetch(`https://${n1.http}/v1/cluster/node-certificates`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer nope" },
    body: JSON.stringify({ ...identity.request(), id: "n1" }),
  });
  assert.equal(anonymous.status, 401, "an admin token is required");
  const metrics = await (await fetch(`https://${n1.http}/metrics`)).text();
  assert.match(
    metrics,
    /meshlet_control_node_certificates_total\{result="refused",code="ERR_NODE_CERT_NOT_MEMBER"\} 1/,
  );
  assert.match(metrics, /meshlet_control_node_certificates_total\{result="refused",code="ERR_NODE_CERT_NAMES"\} 1/);
  assert.match(metrics, /meshlet_control_node_certificates_total\{result="issued",code=""\} 1/);
});

test("a node of a running cluster that lost its certificate opens no founding window and re-signs it with the CA of its Raft state", async (t) => {
  const c = await makeCluster(1, [...FAST_FLAGS, "--founding-window", "10m"]);
  t.after(() => c.stopAll());
  const [n1] = c.nodes;
  assert.ok(n1);
  c.start(n1);
  await leaderOf([n1]);
  const certFile = path.join(n1.dataDir, "node-cert.pem");
  const fromCa = async () => {
    try {
      const cert = new X509Certificate(readFileSync(certFile, "utf8"));
      return cert.issuer !== cert.subject ? true : undefined;
    } catch {
      return undefined;
    }
  };
  await until("n1 holds a certificate from the mesh CA", fromCa);
  const clusterId = clusterIdOf(n1.dataDir);
  await c.kill9(n1);
  writeFileSync(certFile, "not a certificate\n");
  c.start(n1);
  await leaderOf([n1]);
  await until("the lost certificate is reported", async () =>
    /ERR_NODE_CERT_UNUSABLE/.test(n1.log.join("")) ? true : undefined,
  );
  // --founding-window 10m, yet a self-signed certificate in a founder's name is refused: the window is shut.
  const impostor = await selfSignedPeer(c.root, "impostor", caFileOf(n1.dataDir), "n1", clusterId);
  const res = await forward(n1.grpc, impostor, clusterId);
  assert.equal(res.code, 16, res.details);
  assert.match(res.details, /untrusted_issuer/);
  await until("n1 re-signed its certificate with the mesh CA", fromCa);
  const metrics = await (await fetch(`https://${n1.http}/metrics`)).text();
  assert.match(metrics, /meshlet_control_node_certificate_lost_total\{reason="unreadable"\} 1/);
});

/** GET /healthz over HTTPS at `address` as a client that dialled `name`: "ok", or the TLS error's code. */
function healthzAs(address: string, name: string, ca: Buffer): Promise<string> {
  const [host, port] = address.split(":");
  return new Promise((resolve) => {
    const req = httpsGet(
      { host, port: Number(port), path: "/healthz", servername: name, ca, timeout: 5_000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200 ? "ok" : `status ${res.statusCode}`);
      },
    );
    req.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

test("--certificate-names puts the client Service's name in the node certificate, so HTTPS clients dialling it verify", async (t) => {
  const service = "meshlet-control.meshlet-system.svc";
  const c = await makeCluster(1, [...FAST_FLAGS, "--certificate-names", `${service},10.96.0.10`]);
  t.after(() => c.stopAll());
  const [n1] = c.nodes;
  assert.ok(n1);
  c.start(n1);
  await leaderOf([n1]);
  const cert = await until("n1 holds a certificate from the mesh CA", async () => {
    const x = new X509Certificate(readFileSync(path.join(n1.dataDir, "node-cert.pem"), "utf8"));
    return x.issuer !== x.subject ? x : undefined;
  });
  assert.match(cert.subjectAltName ?? "", new RegExp(`DNS:${service.replaceAll(".", "\\.")}`));
  assert.match(cert.subjectAltName ?? "", /IP Address:10\.96\.0\.10/);
  const ca = readFileSync(caFileOf(n1.dataDir));
  assert.equal(await healthzAs(n1.http, service, ca), "ok");
  assert.equal(await healthzAs(n1.http, "elsewhere.meshlet-system.svc", ca), "ERR_TLS_CERT_ALTNAME_INVALID");

  const bad = await runCli(["control", "--certificate-names", `${service},*.svc`]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--certificate-names: "\*\.svc" is not a DNS name or an IP address/);
});

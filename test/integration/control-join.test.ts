import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { get as httpsGet } from "node:https";
import * as path from "node:path";
import { test } from "node:test";
import { type ControlProc, leaderOf, makeCluster, put, status, until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";

/**
 * A probe as the kubelet makes it (httpGet, scheme HTTPS): TLS without checking the certificate, which is
 * self-signed until the founders have a leader and the mesh CA.
 */
const probe = (node: ControlProc, path: string) =>
  new Promise<{ status: number; body: Record<string, unknown> }>((resolve) => {
    const req = httpsGet(`https://${node.http}${path}`, { rejectUnauthorized: false, timeout: 2_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || "{}") }),
      );
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve({ status: 0, body: {} }));
  });

/**
 * The control plane as a StatefulSet runs it: every pod gets the same flags (the founding members by stable DNS
 * name in --peers, --join through a member for the pods added later, --advertise its own name); the founders
 * bootstrap, a fourth pod joins as a learner under its advertised name and is promoted with the CLI; /readyz
 * follows quorum, /healthz the process.
 */
test("StatefulSet bootstrap: founders by DNS name, a scaled-up pod joins, probes follow quorum", async (t) => {
  const c = await makeCluster(4);
  t.after(() => c.stopAll());
  const [n1, n2, n3, n4] = c.nodes;
  assert.ok(n1 && n2 && n3 && n4);
  // "localhost" stands for meshlet-control-N.meshlet-control-peers: a name, resolved by gRPC, not an IP.
  const dns = (n: ControlProc) => `localhost:${n.grpc.split(":")[1]}`;
  const peers = [n1, n2, n3].map((n) => `${n.id}=${dns(n)}`).join(",");
  // The client Service's name, as the shipped StatefulSet gives it: in every node's certificate, a joiner's too.
  const service = "meshlet-control.meshlet-system.svc";
  const template = (n: ControlProc) => [
    ...["--peers", peers, "--join", n1.http, "--advertise", dns(n), "--certificate-names", service],
  ];

  c.start(n1, template(n1));
  await until("n1 serves HTTP", async () => ((await probe(n1, "/healthz")).status === 200 ? true : undefined));
  const alone = await probe(n1, "/readyz");
  assert.equal(alone.status, 503, "one founder of three has no quorum: not ready");
  assert.deepEqual(alone.body.reasons, ["no leader is known"]);

  for (const n of [n2, n3]) c.start(n, template(n));
  const leader = await leaderOf([n1, n2, n3]);
  for (const n of [n1, n2, n3])
    await until(`${n.id} ready`, async () => ((await probe(n, "/readyz")).status === 200 ? true : undefined));
  assert.equal((await put(leader, "k", "v")).status, 200);
  const members = (await status(leader)).members;
  assert.deepEqual(
    members.map((m) => `${m.id}=${m.address}`).sort(),
    [n1, n2, n3].map((n) => `${n.id}=${dns(n)}`),
  );

  // Scaling 3 -> 4: the same flags; n4 is not a founder, so it joins as a learner under its advertised name.
  c.start(n4, template(n4));
  await until("n4 is a learner at its advertised address", async () => {
    const s = await status(leader);
    return s.members.some((m) => m.id === "n4" && m.role === "learner" && m.address === dns(n4)) ? true : undefined;
  });
  // Signed by a member for the names n4 may claim: its advertised name, loopback, --certificate-names.
  const n4Cert = await until("n4's certificate from the mesh CA", async () => {
    try {
      const x = new X509Certificate(readFileSync(path.join(n4.dataDir, "node-cert.pem"), "utf8"));
      return x.issuer !== x.subject ? x : undefined;
    } catch {
      return undefined;
    }
  });
  assert.match(n4Cert.subjectAltName ?? "", /DNS:meshlet-control\.meshlet-system\.svc/);
  assert.match(n4Cert.subjectAltName ?? "", /DNS:localhost/);
  const promoted = await runCli(["cluster", "promote", "n4", "--server", `https://${leader.http}`]);
  assert.equal(promoted.code, 0, promoted.stderr);
  await until("n4 ready as a voter", async () => {
    const s = await status(leader);
    const voter = s.members.some((m) => m.id === "n4" && m.role === "voter");
    return voter && (await probe(n4, "/readyz")).status === 200 ? true : undefined;
  });

  // A founder restarted with the same flags comes back as itself, not as a joiner.
  await c.kill9(n2);
  c.start(n2, template(n2));
  await until("n2 ready again", async () => ((await probe(n2, "/readyz")).status === 200 ? true : undefined));
  assert.equal((await status(leader)).members.filter((m) => m.id === "n2").length, 1);
});

test("control --advertise must agree with this node's address in --peers", async () => {
  const r = await runCli([
    "control",
    "--id",
    "a",
    "--peers",
    "a=a.peers:15010,b=b.peers:15010",
    "--advertise",
    "other:15010",
  ]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--advertise other:15010 differs from this node's address in --peers \(a.peers:15010\)/);
});

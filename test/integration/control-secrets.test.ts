import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import { discoveryProto } from "../../src/config/discovery-proto.ts";
import type { DiscoveryResponse__Output } from "../../src/gen/meshlet/discovery/v1/DiscoveryResponse.ts";
import { createCsr } from "../../src/security/csr-request.ts";
import { generateKeyPair, privateKeyPem } from "../../src/security/keys.ts";
import { type ControlProc, leaderOf, makeCluster, until } from "../controlplane/harness.ts";
import { runCli, stopProcess } from "../helpers/cli.ts";
import { adminTokenFile, readToken } from "../support/control-auth.ts";
import { controlCredentials } from "../support/control-grpc.ts";

/** Fast Raft, and every log line a node writes (debug), so nothing it logs at a lower level escapes the check. */
const VERBOSE = ["--tick-ms", "50", "--election-ticks", "10", "--log-level", "debug"];

function occurrences(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

async function metric(node: ControlProc, name: string, labels: string[]): Promise<number> {
  const text = await (await fetch(`https://${node.http}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && labels.every((x) => l.includes(x)));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

test("--print-admin-token logs a new cluster's token once, not again at a restart; without it no token is ever logged; a CSR for another service is refused ERR_CSR_IDENTITY and counted twice", async (t) => {
  const printed = await makeCluster(1, VERBOSE);
  const quiet = await makeCluster(1, VERBOSE);
  t.after(() => Promise.all([printed.stopAll(), quiet.stopAll()]));
  const [p] = printed.nodes;
  const [q] = quiet.nodes;
  assert.ok(p && q);
  printed.start(p, ["--peers", printed.peers, "--print-admin-token"]);
  quiet.start(q);
  await Promise.all([leaderOf([p]), leaderOf([q])]);
  const tokenOf = (n: ControlProc) => until("the admin token file", async () => readToken(adminTokenFile(n.dataDir)));
  const [pToken, qToken] = await Promise.all([tokenOf(p), tokenOf(q)]);

  // With the flag: the token once, in the line that says why it is there.
  await until("the admin token is logged", async () => (p.log.join("").includes(pToken) ? true : undefined));
  const pLog = p.log.join("");
  assert.equal(occurrences(pLog, pToken), 1, pLog);
  const line = pLog.split("\n").find((l) => l.includes(pToken)) ?? "";
  assert.equal((JSON.parse(line) as { msg: string }).msg, "admin token (--print-admin-token)");

  // A restart with the flag still given: the token is in its file, not in the logs again.
  assert.ok(p.proc);
  await stopProcess(p.proc, 8_000);
  p.log.length = 0;
  printed.start(p, ["--peers", printed.peers, "--print-admin-token"]);
  await leaderOf([p]);
  await until("the restart says where the token is", async () =>
    p.log.join("").includes("admin token not printed") ? true : undefined,
  );
  assert.equal(occurrences(p.log.join(""), pToken), 0, p.log.join(""));

  // Without the flag, on a node that creates a sidecar token, authenticates it on a stream, signs for it, and
  // refuses forged and unknown tokens: no token value, no CSR, no key in any line.
  const created = await runCli([
    "token",
    "create",
    "--role",
    "sidecar",
    "--name",
    "web-sidecar",
    "--service",
    "web",
    "--server",
    `https://${q.http}`,
  ]);
  assert.equal(created.code, 0, created.stderr);
  const sidecarToken = created.stdout.trim();
  const forged = `mlt_${"A".repeat(43)}`;
  const refused = await fetch(`https://${q.http}/v1/apply`, {
    method: "POST",
    headers: { authorization: `Bearer ${forged}` },
    body: "",
  });
  assert.equal(refused.status, 401);

  const client = new (discoveryProto().meshlet.discovery.v1.Discovery)(q.grpc, controlCredentials(q.dataDir));
  t.after(() => client.close());
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${sidecarToken}`);
  const call = client.Stream(metadata);
  t.after(() => call.cancel());
  const answers: { chain: string; code: string; error: string }[] = [];
  let bundles = 0;
  call.on("data", (res: DiscoveryResponse__Output) => {
    if (res.trustBundle) bundles++;
    if (res.certificate)
      answers.push({
        chain: res.certificate.certChainPem,
        code: res.certificate.errorCode,
        error: res.certificate.error,
      });
  });
  call.on("error", () => {});
  call.write({ hello: { nodeId: "web-1", service: "web", instance: "web-1" } });
  await until("the trust bundle", async () => (bundles > 0 ? true : undefined));

  const labels = ['result="refused"', 'code="ERR_CSR_IDENTITY"'];
  const caBefore = await metric(q, "meshlet_ca_certificates_total", labels);
  const rejectedBefore = await metric(q, "meshlet_discovery_rejected_total", ['reason="wrong_identity"']);
  const stolen = createCsr(generateKeyPair(), "spiffe://cluster.local/service/reviews");
  call.write({ certificateRequest: { csrPem: stolen } });
  const refusal = await until("the answer to the CSR for reviews", async () => answers[0]);
  assert.equal(refusal.code, "ERR_CSR_IDENTITY", refusal.error);
  assert.equal(refusal.chain, "");
  assert.equal(await metric(q, "meshlet_ca_certificates_total", labels), caBefore + 1);
  assert.equal(
    await metric(q, "meshlet_discovery_rejected_total", ['reason="wrong_identity"']),
    rejectedBefore + 1,
    "counted as a refused discovery message too",
  );

  // The stream is still good for its own identity.
  const own = generateKeyPair();
  const csr = createCsr(own, "spiffe://cluster.local/service/web");
  call.write({ certificateRequest: { csrPem: csr } });
  const issued = await until("the certificate for web", async () => answers[1]);
  assert.equal(issued.code, "", issued.error);
  assert.match(issued.chain, /BEGIN CERTIFICATE/);
  await until("the node logged the refusal", async () =>
    q.log.join("").includes("certificate request refused") ? true : undefined,
  );

  const qLog = q.log.join("");
  const secrets: [string, string][] = [
    ["admin token", qToken],
    ["sidecar token", sidecarToken],
    ["forged token", forged],
    ["refused CSR", stolen.split("\n")[1] ?? stolen],
    ["signed CSR", csr.split("\n")[1] ?? csr],
    ["private key", privateKeyPem(own.privateKey).split("\n")[1] ?? ""],
    ["node key", (await readFile(`${q.dataDir}/node-key.pem`, "utf8")).split("\n")[1] ?? ""],
  ];
  for (const [what, value] of secrets) assert.equal(occurrences(qLog, value), 0, `${what} in the node's log`);
  for (const marker of ["PRIVATE KEY", "CERTIFICATE REQUEST", "mlt_"])
    assert.equal(occurrences(qLog, marker), 0, `${marker} in the node's log`);
});

import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { systemClock } from "../../src/common/clock.ts";
import { silentLogger } from "../../src/common/logger.ts";
import type { Finding } from "../../src/config/finding.ts";
import { DiscoveryStreamClient } from "../../src/sidecar/discovery/client.ts";
import { type Cluster, makeCluster, until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { nameServer, type RunningSidecar, startSidecar, type Upstream } from "../sidecar/helpers.ts";
import { controlTokenEnv } from "../support/control-auth.ts";

const BASE = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: ratings}
---
apiVersion: meshlet.dev/v1
kind: Policy
metadata: {name: ratings-breaker}
spec:
  target: {service: ratings}
  circuitBreaker: {errorThresholdPercentage: 50}
`;

/** A second Policy on ratings: every sidecar would refuse one of the two. */
const CONFLICT = `# a second policy on ratings
apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: details}
---
apiVersion: meshlet.dev/v1
kind: Policy
metadata: {name: ratings-limits}
spec:
  target: {service: ratings}
  limits: {maxRequests: 10}
`;

interface ClusterJson {
  commitIndex: number;
  appliedIndex: number;
}

async function clusterOf(http: string): Promise<ClusterJson> {
  const res = await fetch(`https://${http}/v1/cluster`, { signal: AbortSignal.timeout(5_000) });
  return (await res.json()) as ClusterJson;
}

test("one check for everyone: refused at the door with the sidecar's words; analyze, check, status, version, proxy-config", async (t) => {
  const cluster: Cluster = await makeCluster(1);
  const [node] = cluster.nodes;
  assert.ok(node);
  const dir = await mkdtemp(join(tmpdir(), "meshlet-operate-"));
  const sidecars: RunningSidecar[] = [];
  let app: Upstream | undefined;
  let fake: DiscoveryStreamClient | undefined;
  t.after(async () => {
    fake?.stop();
    await Promise.all(sidecars.map((s) => s.stop()));
    await app?.close();
    await cluster.stopAll();
    await rm(dir, { recursive: true, force: true });
  });
  cluster.start(node, []);
  const env = { MESHLET_SERVER: node.http };
  await until("control plane with a leader", async () =>
    (await runCli(["check", "--wait", "0"], { env })).code === 0 ? true : undefined,
  );

  const base = join(dir, "base.yaml");
  const conflict = join(dir, "conflict.yaml");
  await writeFile(base, BASE);
  await writeFile(conflict, CONFLICT);
  assert.equal((await runCli(["apply", "-f", base], { env })).code, 0);

  // Refused, with the file and line of the operator's resource, and nothing reaches the Raft log.
  const before = await clusterOf(node.http);
  for (const dryRun of [[], ["--dry-run=server"]]) {
    const refused = await runCli(["apply", "-f", conflict, ...dryRun], { env });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(
      refused.stderr,
      /conflict\.yaml:10:11 Policy\/ratings-limits spec\.target: service\/ratings is also the target of Policy\/ratings-breaker, which keeps it/,
    );
    assert.doesNotMatch(refused.stdout, /created/);
  }
  const after = await clusterOf(node.http);
  assert.equal(after.commitIndex, before.commitIndex, "no entry was proposed");
  const details = await fetch(`https://${node.http}/v1/resources/services/details`);
  assert.equal(details.status, 404, "nothing of the refused apply was stored, not even its valid part");
  // The files alone conflict with nothing: a client dry run cannot know better, and says what it checked.
  const client = await runCli(["apply", "-f", conflict, "--dry-run=client"], { env });
  assert.equal(client.code, 0, client.stderr);
  assert.match(client.stdout, /policy\/ratings-limits validated \(client dry run\)/);

  // analyze: the same error about the files on top of the live state; exit codes by --fail-on.
  const analyzed = await runCli(["analyze", "-f", conflict], { env });
  assert.equal(analyzed.code, 1);
  assert.match(
    analyzed.stdout,
    /^Error \[PolicyConflict\] \S*conflict\.yaml:10:11 Policy\/ratings-limits spec\.target: /m,
  );
  const live = await runCli(["analyze", "-o", "json"], { env });
  assert.equal(live.code, 0, live.stderr);
  const findings = (JSON.parse(live.stdout) as { findings: Finding[] }).findings;
  assert.deepEqual(
    findings.map((f) => `${f.severity} ${f.code} ${f.resource}`),
    ["warning NoEndpoints Policy/ratings-breaker"],
  );
  assert.equal((await runCli(["analyze", "--fail-on", "warning"], { env })).code, 1);
  assert.equal((await runCli(["analyze", "--local", "-f", conflict, "-o", "name"], { env })).code, 0);

  // A sidecar that ACKs: check passes and proxy-config reads its admin API.
  app = await nameServer("ratings-app");
  const ratings = await startSidecar(undefined, {
    service: "ratings",
    appPort: app.port,
    staticConfig: false,
    args: ["--control", node.grpc, "--log-level", "warn"],
  });
  sidecars.push(ratings);
  const ok = await until("check passes with the sidecar", async () => {
    const r = await runCli(["check"], { env });
    return r.code === 0 && /1 sidecar\(s\) connected/.test(r.stdout) ? r : undefined;
  });
  assert.match(ok.stdout, /Status check results are √/);
  assert.match(ok.stdout, /√ leader n1 \(term \d+, 1 voter\(s\)\)/);
  assert.match(ok.stdout, /√ clock of node n1 within \d+ ms of this machine/);
  const routes = await runCli(["proxy-config", `127.0.0.1:${ratings.admin}`, "clusters", "-o", "json"]);
  assert.equal(routes.code, 0, routes.stderr);
  assert.deepEqual(
    (JSON.parse(routes.stdout) as { service: string; endpoints: number; policy: string }[]).map((c) => [
      c.service,
      c.endpoints,
      c.policy,
    ]),
    [["ratings", 1, "ratings-breaker"]],
  );

  // A sidecar that refuses a resource: check fails naming it, status counts it, until it takes a version whole.
  let refuse = true;
  const refusal: Finding = {
    code: "InvalidResource",
    severity: "error",
    resource: "Policy/ratings-breaker",
    path: "spec.circuitBreaker",
    message: "unknown field(s): slowCallRate",
  };
  const { MESHLET_TOKEN: token, MESHLET_CA_FILE: caFile } = controlTokenEnv();
  assert.ok(token !== undefined && caFile !== undefined, "the cluster wrote its admin token and CA");
  fake = new DiscoveryStreamClient({
    controls: [node.grpc],
    nodeId: "web-skewed",
    service: "web",
    token,
    caPem: await readFile(caFile),
    instance: "web-skewed",
    subscribe: ["*"],
    apply: () => {},
    refused: () => (refuse ? [refusal] : []),
    clock: systemClock,
    logger: silentLogger(),
  });
  fake.start();
  const failed = await until("check fails on the NACK", async () => {
    const r = await runCli(["check", "--wait", "0"], { env });
    return r.code === 1 && /rejected version/.test(r.stdout) ? r : undefined;
  });
  assert.match(
    failed.stdout,
    /^× sidecar web-skewed \(web\) rejected version \d+: Policy\/ratings-breaker spec\.circuitBreaker: unknown field\(s\): slowCallRate$/m,
  );
  assert.match(failed.stdout, /Status check results are ×/);
  assert.match(failed.stderr, /check\(s\) failed/);
  const nacked = await runCli(["status"], { env });
  assert.match(nacked.stdout, /Sidecars: 2 connected, 1 with a rejected snapshot/);

  refuse = false;
  assert.equal(
    (await runCli(["apply", "-f", base.replace("base", "base"), "-f", join(dir, "more.yaml")], { env })).code,
    2,
  );
  await writeFile(join(dir, "more.yaml"), "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: web}\n");
  assert.equal((await runCli(["apply", "-f", join(dir, "more.yaml")], { env })).code, 0);
  const recovered = await until("the rejection is forgotten once the sidecar ACKs", async () => {
    const r = await runCli(["status", "-o", "json"], { env });
    const view = JSON.parse(r.stdout) as { sidecars: { id: string; lastNack: unknown }[] };
    return view.sidecars.every((s) => s.lastNack === null) ? r : undefined;
  });
  assert.equal(recovered.code, 0);
  assert.match((await runCli(["status"], { env })).stdout, /Sidecars: 2 connected, 0 with a rejected snapshot/);
  assert.equal((await runCli(["check"], { env })).code, 0);

  const version = await runCli(["version", "-o", "json"], { env });
  assert.equal(version.code, 0, version.stderr);
  const v = JSON.parse(version.stdout) as {
    clientVersion: { version: string };
    serverVersion: { version: string; node: string };
  };
  assert.deepEqual([v.serverVersion.version, v.serverVersion.node], [v.clientVersion.version, "n1"]);
});

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parse, stringify } from "yaml";
import { freePorts, makeCluster, until } from "../controlplane/harness.ts";
import { REPO_ROOT, runCli, stopProcess } from "../helpers/cli.ts";
import { ensureDebianPackage } from "../helpers/debian.ts";
import { nameServer, send, startSidecar } from "../sidecar/helpers.ts";
import { caFileOf } from "../support/control-auth.ts";

const MESH = `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: ratings}
spec: {endpoints: [{address: 127.0.0.1, port: {port}}]}
---
apiVersion: meshlet.dev/v1
kind: Policy
metadata: {name: ratings}
spec:
  target: {service: ratings}
  circuitBreaker: {errorThresholdPercentage: 50}
  rateLimit: {requestsPerSecond: 100, scope: global}
`;

interface PromConfig {
  global: Record<string, string>;
  rule_files: string[];
  alerting?: unknown;
  scrape_configs: {
    job_name: string;
    tls_config?: { ca_file: string };
    static_configs: { targets: string[] }[];
  }[];
}

/** Metric names an expression reads (histogram series by their family name). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(meshlet_[a-z0-9_]+)/g)].map((m) => (m[1] ?? "").replace(/_(bucket|sum|count)$/, ""));
}

test("a real Prometheus scrapes a running control plane and sidecar with the shipped config, and evaluates the shipped rules", async (t) => {
  ensureDebianPackage("prometheus", "prometheus");
  const dir = await mkdtemp(join(tmpdir(), "meshlet-prometheus-"));
  const cluster = await makeCluster(1);
  const [node] = cluster.nodes;
  assert.ok(node);
  const app = await nameServer("ratings-app");
  let prometheus: ChildProcess | undefined;
  let promLog = "";
  const sidecars: { stop: () => Promise<unknown> }[] = [];
  t.after(async () => {
    if (prometheus !== undefined) await stopProcess(prometheus, 10_000);
    await Promise.all(sidecars.map((s) => s.stop()));
    await cluster.stopAll();
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });
  cluster.start(node, []);
  const env = { MESHLET_SERVER: node.http };
  await until("leader", async () => ((await runCli(["check", "--wait", "0"], { env })).code === 0 ? true : undefined));
  await writeFile(join(dir, "mesh.yaml"), MESH.replace("{port}", String(app.port)));
  assert.equal((await runCli(["apply", "-f", join(dir, "mesh.yaml")], { env })).code, 0);
  const sidecar = await startSidecar(undefined, {
    service: "web",
    staticConfig: false,
    args: ["--control", node.grpc, "--log-level", "warn"],
  });
  sidecars.push(sidecar);
  await until("routed", async () =>
    (await send(sidecar.outbound, { headers: { host: "ratings" } })).status === 200 ? true : undefined,
  );

  // The shipped config, with only the targets (and intervals, for a test's patience) rewritten.
  const shipped = parse(await readFile(join(REPO_ROOT, "deploy/prometheus/prometheus.yml"), "utf8")) as PromConfig;
  const targets: Record<string, string> = {
    "meshlet-control": node.http,
    "meshlet-sidecar": `127.0.0.1:${sidecar.admin}`,
  };
  assert.deepEqual(shipped.scrape_configs.map((s) => s.job_name).sort(), Object.keys(targets).sort());
  const config: PromConfig = {
    ...shipped,
    global: { ...shipped.global, scrape_interval: "1s", evaluation_interval: "1s" },
    scrape_configs: shipped.scrape_configs.map((s) => ({
      ...s,
      ...(s.tls_config === undefined ? {} : { tls_config: { ...s.tls_config, ca_file: caFileOf(node.dataDir) } }),
      static_configs: [{ targets: [targets[s.job_name] ?? ""] }],
    })),
  };
  delete config.alerting;
  for (const file of shipped.rule_files) await copyFile(join(REPO_ROOT, "deploy/prometheus", file), join(dir, file));
  await writeFile(join(dir, "prometheus.yml"), stringify(config));
  const [port] = await freePorts(1);
  prometheus = spawn(
    "prometheus",
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  prometheus.stderr?.on("data", (d: Buffer) => {
    promLog += d.toString();
  });
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`${path}: ${body.error ?? res.status}`);
    return body.data;
  };
  const query = (q: string) =>
    api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
      `/api/v1/query?query=${encodeURIComponent(q)}`,
    );

  const up = await until(
    "both targets up",
    async () => {
      const data = await api<{ activeTargets: { labels: { job: string }; health: string }[] }>("/api/v1/targets");
      const healthy = data.activeTargets.filter((a) => a.health === "up").map((a) => a.labels.job);
      return healthy.length === 2 ? healthy.sort() : undefined;
    },
    60_000,
  ).catch((err: unknown) => assert.fail(`${String(err)}\n${promLog}`));
  assert.deepEqual(up, ["meshlet-control", "meshlet-sidecar"]);

  const value = async (q: string) => Number((await query(q)).result[0]?.value[1]);
  assert.equal(await value('meshlet_raft_has_leader{job="meshlet-control"}'), 1);
  assert.equal(await value('meshlet_discovery_sidecars{job="meshlet-control", state="acked"}'), 1);
  assert.equal(await value('meshlet_sidecar_config_stale{job="meshlet-sidecar"}'), 0);
  assert.equal(await value('meshlet_rate_limit_global_degraded{job="meshlet-sidecar", target="service/ratings"}'), 1);
  assert.ok((await value('sum(meshlet_requests_total{job="meshlet-sidecar", destination_service="ratings"})')) >= 1);

  // Every shipped rule loads and evaluates without error against real series.
  const groups = await until("rules evaluated", async () => {
    const data = await api<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>(
      "/api/v1/rules",
    );
    const rules = data.groups.flatMap((g) => g.rules);
    return rules.length > 0 && rules.every((r) => r.health === "ok") ? rules : undefined;
  });
  assert.ok(groups.length >= 12, `${groups.length} rules`);
  // With a global limit and no --redis, the sidecar is degraded: the rule sees it (pending: it waits 5 minutes).
  const pending = await until("a pending alert", async () => {
    const data = await api<{ alerts: { labels: { alertname: string; service?: string }; state: string }[] }>(
      "/api/v1/alerts",
    );
    return data.alerts.find((a) => a.labels.alertname === "MeshletGlobalRateLimitDegraded");
  });
  assert.deepEqual([pending.state, pending.labels.service], ["pending", "ratings"]);

  // The metric names the rules and the dashboard read exist in what the processes export (HELP lines).
  const exported = new Set<string>();
  for (const url of [`https://${node.http}/metrics`, `http://127.0.0.1:${sidecar.admin}/metrics`]) {
    const text = await (await fetch(url)).text();
    for (const m of text.matchAll(/^# HELP (meshlet_[a-z0-9_]+) /gm)) exported.add(m[1] ?? "");
  }
  const rulesText = await readFile(join(REPO_ROOT, "deploy/prometheus/alerts.yml"), "utf8");
  const ruleExprs = (parse(rulesText) as { groups: { rules: { expr: string }[] }[] }).groups.flatMap((g) =>
    g.rules.map((r) => r.expr),
  );
  for (const name of ruleExprs.flatMap(metricNames)) assert.ok(exported.has(name), `alerts.yml reads ${name}`);
  const dashboard = JSON.parse(await readFile(join(REPO_ROOT, "deploy/grafana/meshlet.json"), "utf8")) as {
    panels: { title: string; targets?: { expr: string }[] }[];
  };
  const panelExprs = dashboard.panels.flatMap((p) =>
    (p.targets ?? []).map((tg) => ({ title: p.title, expr: tg.expr })),
  );
  assert.ok(panelExprs.length > 20);
  for (const { title, expr } of panelExprs) {
    for (const name of metricNames(expr)) assert.ok(exported.has(name), `dashboard panel "${title}" reads ${name}`);
    // Valid PromQL, as Prometheus parses it (the dashboard's variables given values).
    await query(expr.replaceAll("$__rate_interval", "1m").replaceAll("$service", ".*")).catch((err: unknown) =>
      assert.fail(`panel "${title}": ${String(err)}`),
    );
  }
});

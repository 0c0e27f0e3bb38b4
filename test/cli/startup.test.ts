import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { leaderOf, makeCluster, until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { nameServer, send, service, startSidecar } from "../sidecar/helpers.ts";

/** Packages only the commands that run something need: parsing a command line must not load them. */
const HEAVY = ["zod", "yaml", "pino", "prom-client", "undici", "diff", "@grpc/grpc-js", "protobufjs"];

/** Packages a sidecar fed by a control plane, with a breaker and a rate limit without maxWait, must not load. */
const CONTROL_FED_UNUSED = [
  "zod",
  "yaml",
  "@peculiar/x509",
  "reflect-metadata",
  "tsyringe",
  "opossum",
  "bottleneck",
  "diff",
  "undici",
  "ioredis",
  "@opentelemetry/sdk-trace",
  "@opentelemetry/api",
  "tdigest",
  "bintrees",
  "@grpc/proto-loader",
];

/** Records every module the process loads and prints the list to stderr at exit. */
const RECORDER = `
import { registerHooks } from "node:module";
const loaded = [];
registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
process.on("exit", () => process.stderr.write("LOADED " + JSON.stringify(loaded) + "\\n"));
`;

async function loadedPackages(args: string[], env: NodeJS.ProcessEnv): Promise<Set<string>> {
  const { stderr } = await runCli(args, { env });
  return packagesIn(stderr);
}

function packagesIn(stderr: string): Set<string> {
  const line = stderr.split("\n").find((l) => l.startsWith("LOADED "));
  assert.ok(line !== undefined, `no module list in: ${stderr}`);
  const urls = JSON.parse(line.slice("LOADED ".length)) as string[];
  const packages = new Set<string>();
  for (const url of urls) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m?.[1] !== undefined) packages.add(m[1]);
  }
  return packages;
}

describe("CLI startup", () => {
  let dir = "";
  let env: NodeJS.ProcessEnv = {};
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "meshlet-startup-"));
    const recorder = join(dir, "recorder.mjs");
    await writeFile(recorder, RECORDER);
    env = { NODE_OPTIONS: `--import=${recorder}` };
  });
  after(() => rm(dir, { recursive: true, force: true }));

  for (const args of [["--version"], ["--help"], ["await", "--help"], ["sidecar", "--help"], ["apply", "--help"]]) {
    it(`meshlet ${args.join(" ")} loads none of the data path's or the schemas' packages`, async () => {
      const packages = await loadedPackages(args, env);
      assert.ok(packages.has("commander"), "the recorder saw the CLI parser load");
      for (const p of HEAVY) assert.ok(!packages.has(p), `${p} loaded`);
    });
  }

  /** A sidecar that served one request and stopped: the packages it loaded. */
  async function sidecarPackages(args: string[]): Promise<Set<string>> {
    const app = await nameServer("app");
    try {
      const sc = await startSidecar(service("app", [{ port: app.port }]), { args, env });
      assert.equal((await send(sc.outbound, { headers: { host: "app" } })).status, 200);
      await sc.stop();
      return packagesIn(sc.logs());
    } finally {
      await app.close();
    }
  }

  it("a sidecar without --tracing-endpoint loads none of the tracing packages; with it, the OTLP exporter", async () => {
    const off = await sidecarPackages([]);
    assert.ok(off.has("prom-client"), "the recorder saw the sidecar load its packages");
    // Not even @opentelemetry/api, which prom-client's index loads for its CPU metric (src/common/prom.ts).
    const otel = [...off].filter((p) => p.startsWith("@opentelemetry/"));
    assert.deepEqual(otel, []);
    const on = await sidecarPackages(["--tracing-endpoint", "http://127.0.0.1:1/v1/traces"]);
    assert.ok(on.has("@opentelemetry/exporter-trace-otlp-http"), [...on].join(", "));
  });

  it("a sidecar fed by a control plane (Service, Route and Policy applied) loads none of the heavy packages it does not use", async (t) => {
    const cluster = await makeCluster(1);
    const app = await nameServer("app");
    t.after(async () => {
      await cluster.stopAll();
      await app.close();
    });
    const [node] = cluster.nodes;
    assert.ok(node !== undefined);
    cluster.start(node);
    await leaderOf([node]);
    const file = join(dir, "mesh.yaml");
    await writeFile(
      file,
      [
        service("app", [{ port: app.port }]),
        "---\napiVersion: meshlet.dev/v1\nkind: Route\nmetadata: {name: app}\n",
        "spec: {hosts: [app], http: [{match: [{pathPrefix: /}], destinations: [{service: app}], retries: {attempts: 1}}]}\n",
        "---\napiVersion: meshlet.dev/v1\nkind: Policy\nmetadata: {name: app}\n",
        "spec: {target: {service: app}, circuitBreaker: {errorThresholdPercentage: 50}, rateLimit: {requestsPerSecond: 1000},",
        " outlierDetection: {consecutiveErrors: 3}, fallback: {on: [circuitOpen], static: {status: 503}}}\n",
      ].join(""),
    );
    const applied = await runCli(["apply", "-f", file, "--server", `https://${node.http}`]);
    assert.equal(applied.code, 0, applied.stderr);

    const sc = await startSidecar(undefined, { staticConfig: false, args: ["--control", node.grpc], env });
    try {
      const reply = await until("the sidecar routes by the control plane's snapshot", async () => {
        const r = await send(sc.outbound, { headers: { host: "app" } });
        return r.status === 200 ? r : undefined;
      });
      assert.equal(reply.body, "app");
      // Ready once its warm-up ended (docs/sidecar.md: config, certificate, first connections), at most 2 s on.
      const ready = await until("the sidecar is ready", async () => {
        const r = await fetch(`http://127.0.0.1:${sc.admin}/ready`);
        return r.status === 200 ? ((await r.json()) as { rejected: string[] }) : undefined;
      });
      assert.deepEqual(ready.rejected, []);
    } finally {
      await sc.stop();
    }
    const packages = packagesIn(sc.logs());
    assert.ok(packages.has("@grpc/grpc-js"), [...packages].join(", "));
    assert.match(sc.logs(), /workload certificate installed/, "the sidecar built a CSR and got its certificate");
    // Schemas and YAML are the control plane's; the CSR is built without @peculiar/x509 (docs/security.md); the
    // breaker is meshlet's own; bottleneck only comes with a rate limit that has a maxWait (none here); the
    // discovery service is read from its JSON descriptor (config/proto-light.ts). docs/sidecar.md lists them.
    for (const p of CONTROL_FED_UNUSED) assert.ok(!packages.has(p), `${p} loaded: ${[...packages].join(", ")}`);
  });

  it("loads them when a command runs", async () => {
    const packages = await loadedPackages(["get", "services", "--server", "http://127.0.0.1:1"], env);
    assert.ok(packages.has("zod") && packages.has("yaml"), [...packages].join(", "));
  });
});

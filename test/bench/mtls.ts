/**
 * bench:mtls — what mTLS between two sidecars costs (issue 22, item 6). A control plane (operator CA from
 * this bench, so it can sign its own client certificate), web's sidecar calling reviews' sidecar, a local app.
 * Alternating rounds of plain text (reviews `mtls: DISABLE`) and mTLS (`STRICT`) at a fixed 1,000 req/s over
 * keep-alive connections: CPU per request of both sidecars (from /proc), p50/p99 latency. Then handshakes per
 * second on reviews' inbound port with a cold pool: full handshakes, and resumed ones (TLS 1.3 tickets).
 * Medians of the rounds; ratios; Istio's published 0.20 vCPU per 1,000 req/s per sidecar as the bar.
 *
 * The same-run peer: two nginx (one worker each) in the same places, caller nginx -> callee nginx -> the same
 * app, plain and with mTLS (TLS 1.3, client certificate required and verified both ways, upstream keep-alive
 * and session reuse), at the same rate in the same alternating rounds; skipped, and said, without nginx.
 *
 * MTLS_BENCH_MODES=plain or mtls runs one mode only; MTLS_BENCH_PROFILE=1 runs both sidecars under
 * `node --cpu-prof` and prints where their time went during the rounds (test/bench/profile-summary.ts).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { CertificateAuthority, createRootCa } from "../../src/security/ca.ts";
import { generateKeyPair } from "../../src/security/keys.ts";
import { makeCluster, until } from "../controlplane/harness.ts";
import { runCli } from "../helpers/cli.ts";
import { freePort, type RunningSidecar, send, startSidecar, startUpstream } from "../sidecar/helpers.ts";
import { summaryTable } from "./profile-summary.ts";

const RATE = Number(process.env.MTLS_BENCH_RATE ?? 1000);
const ROUND_MS = Number(process.env.MTLS_BENCH_ROUND_MS ?? 6000);
const ROUNDS = Number(process.env.MTLS_BENCH_ROUNDS ?? 3);
const MODES = (process.env.MTLS_BENCH_MODES ?? "plain,mtls").split(",");
const PROFILE = process.env.MTLS_BENCH_PROFILE === "1";
const CONNECTIONS = 16;
const CLK_TCK = 100;

const mesh = (mode: string) => `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: reviews}
spec: {mtls: {mode: ${mode}}}
---
apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: web}
spec: {mtls: {mode: ${mode}}}
---
apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{destinations: [{service: reviews}], timeout: 2s}]
`;

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** reviews' inbound connections accepted so far, by transport: shows each round ran in the mode it names. */
async function transports(admin: number): Promise<{ mtls: number; plaintext: number }> {
  const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
  const count = (t: string) =>
    Number(
      text
        .split("\n")
        .find((l) => l.startsWith("meshlet_inbound_connections_total{") && l.includes(`transport="${t}"`))
        ?.split(" ")
        .at(-1) ?? 0,
    );
  return { mtls: count("mtls"), plaintext: count("plaintext") };
}

interface NginxPorts {
  callerPlain: number;
  callerMtls: number;
  calleePlain: number;
  calleeMtls: number;
}

/** One worker each, as one sidecar is one event loop; keep-alive both ways, far more requests per connection. */
function nginxConfig(dir: string, role: "caller" | "callee", p: NginxPorts, app: number): string {
  const common = `worker_processes 1;
pid ${dir}/${role}.pid;
error_log ${dir}/${role}-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  proxy_http_version 1.1;
  proxy_set_header Connection "";
`;
  if (role === "callee")
    return `${common}  upstream app { server 127.0.0.1:${app}; keepalive 32; keepalive_requests 1000000; }
  server { listen 127.0.0.1:${p.calleePlain}; location / { proxy_pass http://app; } }
  server {
    listen 127.0.0.1:${p.calleeMtls} ssl;
    ssl_protocols TLSv1.3;
    ssl_certificate ${dir}/callee.pem; ssl_certificate_key ${dir}/callee-key.pem;
    ssl_client_certificate ${dir}/ca.pem; ssl_verify_client on;
    location / { proxy_pass http://app; }
  }
}
`;
  return `${common}  upstream plain { server 127.0.0.1:${p.calleePlain}; keepalive 32; keepalive_requests 1000000; }
  upstream mtls { server 127.0.0.1:${p.calleeMtls}; keepalive 32; keepalive_requests 1000000; }
  server { listen 127.0.0.1:${p.callerPlain}; location / { proxy_pass http://plain; } }
  server {
    listen 127.0.0.1:${p.callerMtls};
    location / {
      proxy_pass https://mtls;
      proxy_ssl_protocols TLSv1.3;
      proxy_ssl_certificate ${dir}/caller.pem; proxy_ssl_certificate_key ${dir}/caller-key.pem;
      proxy_ssl_trusted_certificate ${dir}/ca.pem; proxy_ssl_verify on; proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
    }
  }
}
`;
}

/** The two nginx, or undefined (said) when nginx is not installed: the sidecar rounds run alone then. */
async function startNginxPair(
  ca: CertificateAuthority,
  caPem: string,
  app: number,
  children: ChildProcess[],
): Promise<{ ports: NginxPorts; workers: number[] } | undefined> {
  if (spawnSync("nginx", ["-v"]).error !== undefined) {
    say("  nginx not installed (apt-get install -y nginx-light): no same-run peer");
    return undefined;
  }
  const dir = await mkdtemp(join(tmpdir(), "meshlet-mtls-nginx-"));
  await writeFile(join(dir, "ca.pem"), caPem);
  for (const who of ["caller", "callee"]) {
    const keys = generateKeyPair();
    const cert = await ca.signNode(keys.publicKey, { nodeId: `nginx-${who}`, clusterId: "bench" }, ["localhost"], {
      now: Date.now(),
      ttlMs: 3_600_000,
    });
    await writeFile(join(dir, `${who}.pem`), cert);
    await writeFile(join(dir, `${who}-key.pem`), keys.privateKey.export({ type: "pkcs8", format: "pem" }), {
      mode: 0o600,
    });
  }
  const ports = {
    callerPlain: await freePort(),
    callerMtls: await freePort(),
    calleePlain: await freePort(),
    calleeMtls: await freePort(),
  };
  const workers: number[] = [];
  for (const role of ["callee", "caller"] as const) {
    const conf = join(dir, `${role}.conf`);
    await writeFile(conf, nginxConfig(dir, role, ports, app));
    const master = spawn("nginx", ["-c", conf, "-g", "daemon off;", "-e", join(dir, `${role}-error.log`)], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    master.stderr?.resume();
    children.push(master);
    const worker = await until(`nginx ${role}'s worker`, async () => {
      const kids = await readFile(`/proc/${master.pid}/task/${master.pid}/children`, "utf8").catch(() => "");
      const pid = Number(kids.trim().split(" ")[0]);
      return pid > 0 ? pid : undefined;
    });
    workers.push(worker);
  }
  return { ports, workers };
}

const say = (line: string) => process.stdout.write(`${line}\n`);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

/** Open loop: RATE requests a second, sent in 10 ms batches, over CONNECTIONS keep-alive sockets. */
async function round(
  port: number,
  pids: number[],
): Promise<{ cpuUsPerReq: number; p50: number; p99: number; errors: number; done: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const latencies: number[] = [];
  let errors = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const req = request({ host: "127.0.0.1", port, path: "/r", agent, headers: { host: "reviews" } }, (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode === 200) latencies.push(performance.now() - t0);
          else errors++;
          resolve();
        });
      });
      req.on("error", () => {
        errors++;
        resolve();
      });
      req.end();
    });
  // Warm the pool first, outside the measurement.
  await Promise.all(Array.from({ length: CONNECTIONS }, one));
  latencies.length = 0;
  errors = 0;
  const cpu0 = pids.map(cpuMs);
  const start = performance.now();
  const pending: Promise<void>[] = [];
  let sent = 0;
  while (performance.now() - start < ROUND_MS) {
    const due = Math.floor(((performance.now() - start) / 1000) * RATE);
    for (; sent < due; sent++) pending.push(one());
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(pending);
  const cpu = pids.map(cpuMs).reduce((s, v, i) => s + v - (cpu0[i] ?? 0), 0);
  agent.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  return {
    cpuUsPerReq: (cpu * 1000) / Math.max(1, sent),
    p50: pct(sorted, 0.5),
    p99: pct(sorted, 0.99),
    errors,
    done: sorted.length,
  };
}

async function handshakes(
  port: number,
  tls: { key: string; cert: string; ca: string },
  resume: boolean,
): Promise<{ perSecond: number; resumed: number }> {
  let session: Buffer | undefined;
  let count = 0;
  let reused = 0;
  const end = performance.now() + 3000;
  const worker = async () => {
    while (performance.now() < end) {
      await new Promise<void>((resolve) => {
        const s = tlsConnect({
          host: "127.0.0.1",
          port,
          ...tls,
          minVersion: "TLSv1.3",
          checkServerIdentity: () => undefined,
          ...(resume && session !== undefined ? { session } : {}),
        });
        s.on("session", (b: Buffer) => {
          session = b;
        });
        s.once("secureConnect", () => {
          count++;
          if (s.isSessionReused()) reused++;
          // Wait for the ticket (sent after the handshake in TLS 1.3) before closing: 2 ms was too short, and no
          // "resumed" handshake was one (the share printed below shows it). The next connection does not wait.
          setTimeout(() => s.destroy(), 50);
          resolve();
        });
        s.once("error", () => resolve());
      });
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  // The share of handshakes that were resumptions: a "resumed" figure is one only if the tickets were taken.
  return { perSecond: count / 3, resumed: count === 0 ? 0 : reused / count };
}

async function main(): Promise<void> {
  say(
    `bench:mtls — ${availableParallelism()} cores, Node ${process.version}, ${RATE} req/s, ${ROUNDS} rounds of ${ROUND_MS} ms per mode`,
  );
  const cluster = await makeCluster(1);
  const [node] = cluster.nodes;
  if (node === undefined) throw new Error("no node");
  const sidecars: RunningSidecar[] = [];
  const children: ChildProcess[] = [];
  const app = await startUpstream((_req, res) => res.end("ok"));
  try {
    const ca = await createRootCa("cluster.local", { now: Date.now(), ttlMs: 86_400_000 });
    const caCert = join(cluster.root, "ca.pem");
    const caKey = join(cluster.root, "ca-key.pem");
    await writeFile(caCert, ca.certChainPem);
    await writeFile(caKey, ca.keyPem, { mode: 0o600 });
    cluster.start(node, ["--ca-cert", caCert, "--ca-key", caKey]);
    await until(
      "control plane",
      () =>
        fetch(`https://${node.http}/readyz`).then(
          (r) => (r.ok ? true : undefined),
          () => undefined,
        ),
      30_000,
    );
    const server = ["--server", `https://${node.http}`];
    const apply = async (mode: string) => {
      const r = await runCli(["apply", "-f", "-", ...server], { input: mesh(mode) });
      if (r.code !== 0) throw new Error(r.stderr);
    };
    await apply("STRICT");
    const control = ["--control", node.grpc, "--log-level", "error"];
    const profileDirs: Record<string, string> = {};
    const profiled = async (name: string) => {
      if (!PROFILE) return {};
      profileDirs[name] = await mkdtemp(join(tmpdir(), `meshlet-mtls-prof-${name}-`));
      return { env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDirs[name]}` } };
    };
    const reviews = await startSidecar(undefined, {
      service: "reviews",
      appPort: app.port,
      staticConfig: false,
      args: control,
      ...(await profiled("reviews")),
    });
    sidecars.push(reviews);
    const web = await startSidecar(undefined, {
      service: "web",
      staticConfig: false,
      args: control,
      ...(await profiled("web")),
    });
    sidecars.push(web);
    const pids = [web.proc.pid, reviews.proc.pid].filter((p): p is number => p !== undefined);
    await until(
      "web reaches reviews",
      async () => {
        const r = await send(web.outbound, { headers: { host: "reviews" }, path: "/" }).catch(() => undefined);
        return r?.status === 200 ? true : undefined;
      },
      30_000,
    );

    const signer = CertificateAuthority.load(ca);
    const nginx = await startNginxPair(signer, ca.certChainPem, app.port, children);
    type Round = { cpuUsPerReq: number; p50: number; p99: number; errors: number; done: number };
    const results: Record<string, Round[]> = {};
    const record = (name: string, i: number, r: Round, who: string) => {
      const rs = results[name] ?? [];
      rs.push(r);
      results[name] = rs;
      say(
        `  round ${i + 1} ${name.padEnd(12)} ${r.cpuUsPerReq.toFixed(0)} µs CPU/req (both ${who}), p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.done} ok, ${r.errors} errors`,
      );
    };
    const modes = (
      [
        ["plain", "DISABLE"],
        ["mtls", "STRICT"],
      ] as const
    ).filter(([n]) => MODES.includes(n));
    const roundsFromUs = Number(process.hrtime.bigint() / 1000n);
    for (let i = 0; i < ROUNDS; i++) {
      for (const [name, mode] of modes) {
        await apply(mode);
        await new Promise((r) => setTimeout(r, 2000));
        const before = await transports(reviews.admin);
        const r = await round(web.outbound, pids);
        const after = await transports(reviews.admin);
        const opened =
          after.mtls - before.mtls > 0 ? "mtls" : after.plaintext - before.plaintext > 0 ? "plaintext" : "none";
        if ((name === "mtls") !== (opened === "mtls"))
          throw new Error(`round ${name}: reviews accepted ${opened} connections (the mode did not apply)`);
        record(name, i, r, "sidecars");
        if (nginx === undefined) continue;
        const port = name === "mtls" ? nginx.ports.callerMtls : nginx.ports.callerPlain;
        record(`nginx ${name}`, i, await round(port, nginx.workers), "nginx");
      }
    }
    const summary = (name: string) => {
      const rs = results[name] ?? [];
      return {
        cpu: median(rs.map((r) => r.cpuUsPerReq)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
      };
    };
    const plain = summary("plain");
    const mtls = summary("mtls");
    say("\nmedians:");
    for (const [name, key] of [
      ["meshlet plain", "plain"],
      ["meshlet mTLS", "mtls"],
      ["nginx plain", "nginx plain"],
      ["nginx mTLS", "nginx mtls"],
    ] as const) {
      if (results[key] === undefined) continue;
      const s = summary(key);
      say(
        `  ${name.padEnd(13)} ${s.cpu.toFixed(0)} µs CPU/req both proxies = ${(((s.cpu / 2) * 1000) / 1e6).toFixed(2)} vCPU per 1k req/s per proxy; p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms`,
      );
    }
    say(
      `  meshlet mTLS / plain: CPU ${(mtls.cpu / plain.cpu).toFixed(2)}x, p50 ${(mtls.p50 / plain.p50).toFixed(2)}x, p99 ${(mtls.p99 / plain.p99).toFixed(2)}x`,
    );
    for (const name of ["plain", "mtls"]) {
      if (results[`nginx ${name}`] === undefined || results[name] === undefined) continue;
      const m = summary(name);
      const n = summary(`nginx ${name}`);
      say(
        `  meshlet / nginx, ${name}: CPU ${(m.cpu / n.cpu).toFixed(2)}x, p50 ${(m.p50 / n.p50).toFixed(2)}x, p99 ${(m.p99 / n.p99).toFixed(2)}x`,
      );
    }
    const perSidecar = ((mtls.cpu / 2) * 1000) / 1e6;
    say(
      `  Istio 1.24 publishes 0.20 vCPU per 1k req/s per sidecar with mTLS (its machines, not this one): meshlet ${perSidecar.toFixed(2)} here (${perSidecar <= 0.2 ? "meets" : "misses"} it)`,
    );

    if (PROFILE) {
      for (const [name, sidecar] of [
        ["web (caller)", web],
        ["reviews (callee)", reviews],
      ] as const) {
        await sidecar.stop();
        const dir = profileDirs[name.split(" ")[0] ?? ""] ?? "";
        const file = (await readdir(dir)).find((f) => f.endsWith(".cpuprofile"));
        say(`\nCPU profile of ${name}'s sidecar during the rounds (${MODES.join(" and ")}):\n`);
        say(file === undefined ? "no profile written" : await summaryTable(join(dir, file), roundsFromUs));
      }
      return;
    }

    // Handshakes on a cold pool: a client certificate of the mesh CA, new connections only.
    await apply("STRICT");
    await new Promise((r) => setTimeout(r, 2000));
    const keys = generateKeyPair();
    const cert = await signer.signWorkload(keys.publicKey, "spiffe://cluster.local/service/bench", {
      now: Date.now(),
      ttlMs: 3_600_000,
    });
    const tls = { key: keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString(), cert, ca: ca.certChainPem };
    const full: number[] = [];
    const resumed: number[] = [];
    const resumedShare: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      full.push((await handshakes(reviews.inbound, tls, false)).perSecond);
      const r = await handshakes(reviews.inbound, tls, true);
      resumed.push(r.perSecond);
      resumedShare.push(r.resumed);
    }
    say(
      `\nhandshakes/s on reviews' inbound port (4 clients, new connections): full ${median(full).toFixed(0)}, resumed ${median(resumed).toFixed(0)} (${(median(resumed) / median(full)).toFixed(2)}x; ${(100 * median(resumedShare)).toFixed(0)} % of those handshakes were resumptions)`,
    );
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await Promise.all(sidecars.map((s) => s.stop()));
    await cluster.stopAll();
    await app.close();
  }
}

await main();

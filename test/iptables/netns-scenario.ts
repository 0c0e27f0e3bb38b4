/**
 * Run as root inside a private network namespace (`unshare -n`) by interception.test.ts; prints one JSON
 * report on stdout. Two namespaces joined by a veth pair stand in for a pod and the rest of the cluster:
 *
 *   pod (this namespace, 10.77.0.2)                      | cluster (a second namespace, 10.77.0.3)
 *   app server :9080 (root), app client (uid 1000)       | "reviews" upstream :8080, an outside client
 *   sidecar as uid 1337: outbound :15001, inbound :15006 |
 *
 * Everything runs through the real CLI (bin/meshlet.js): `meshlet iptables`, `meshlet sidecar`.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MESHLET_BIN, REPO_ROOT } from "../helpers/cli.ts";

const PROXY_UID = 1337;
const APP_UID = 1000;
const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), "meshlet-netns-"));
chmodSync(dir, 0o755);

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8" });
const meshlet = (args: string[]) => sh(process.execPath, [MESHLET_BIN, ...args]);
const natRules = () => sh("iptables", ["-t", "nat", "-S"]);

function start(cmd: string, args: string[], uid?: number): ChildProcess {
  const child = spawn(cmd, args, { cwd: REPO_ROOT, stdio: ["ignore", "ignore", "inherit"], uid, gid: uid });
  children.push(child);
  return child;
}

/** A node script as a process: `inNs` runs it in the cluster namespace, `uid` as that user. */
function node(script: string, opts: { inNs?: number; uid?: number } = {}): ChildProcess {
  const args = ["-e", script];
  if (opts.inNs === undefined) return start(process.execPath, args, opts.uid);
  return start("nsenter", ["-t", String(opts.inNs), "-n", process.execPath, ...args], opts.uid);
}

/** Runs a node script to its end and returns its stdout (a client's view). */
function nodeOutput(script: string, opts: { inNs?: number; uid?: number } = {}): string {
  const argv =
    opts.inNs === undefined
      ? [process.execPath, "-e", script]
      : ["nsenter", "-t", String(opts.inNs), "-n", process.execPath, "-e", script];
  return execFileSync(argv[0] as string, argv.slice(1), {
    encoding: "utf8",
    uid: opts.uid,
    gid: opts.uid,
    timeout: 15_000,
  });
}

const server = (host: string, port: number, name: string) =>
  `require("node:http").createServer((q, s) => s.end(JSON.stringify({ from: ${JSON.stringify(name)}, host: q.headers.host, remote: q.socket.remoteAddress }))).listen(${port}, ${JSON.stringify(host)})`;
const client = (url: string, host: string) =>
  `require("node:http").get(${JSON.stringify(url)}, { headers: { host: ${JSON.stringify(host)} } }, (r) => { let b = ""; r.on("data", (d) => b += d); r.on("end", () => console.log(JSON.stringify({ status: r.statusCode, flags: r.headers["x-meshlet-flags"] ?? null, body: b }))); }).on("error", (e) => console.log(JSON.stringify({ error: e.code })))`;

async function until<T>(what: string, fn: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const v = fn();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function scenario() {
  sh("ip", ["link", "set", "lo", "up"]);
  const cluster = start("unshare", ["-n", "sleep", "600"]);
  const ns = cluster.pid as number;
  await until("the cluster namespace", () =>
    sh("readlink", [`/proc/${ns}/ns/net`]) !== sh("readlink", ["/proc/self/ns/net"]) ? true : undefined,
  );
  sh("ip", ["link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", String(ns)]);
  sh("ip", ["addr", "add", "10.77.0.2/24", "dev", "v0"]);
  sh("ip", ["link", "set", "v0", "up"]);
  // Every other address (10.99.0.1 below exists nowhere) is routed out of the pod, as a pod's default route is.
  sh("ip", ["route", "add", "default", "dev", "v0"]);
  for (const args of [
    ["addr", "add", "10.77.0.3/24", "dev", "v1"],
    ["link", "set", "v1", "up"],
    ["link", "set", "lo", "up"],
  ])
    sh("nsenter", ["-t", String(ns), "-n", "ip", ...args]);

  node(server("10.77.0.3", 8080, "reviews"), { inNs: ns });
  node(server("0.0.0.0", 9080, "app"));
  const config = join(dir, "mesh.yaml");
  writeFileSync(
    config,
    "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: reviews}\nspec: {ports: [{port: 80, protocol: http}], endpoints: [{address: 10.77.0.3, port: 8080}]}\n",
  );
  chmodSync(config, 0o644);

  const report: Record<string, unknown> = {};
  // The servers start in the background and the veth link comes up on its own time: wait for the direct call.
  report.directBefore = await until("reviews to answer directly, before any rule", () => {
    const reply = JSON.parse(nodeOutput(client("http://10.77.0.3:8080/", "reviews"), { uid: APP_UID })) as {
      status?: number;
    };
    return reply.status === 200 ? reply : undefined;
  });

  await until("the app to listen", () =>
    nodeOutput(client("http://127.0.0.1:9080/", "app")).includes('"status":200') ? true : undefined,
  );

  meshlet(["iptables", "--proxy-uid", String(PROXY_UID), "--inbound-ports", "9080"]);
  const once = natRules();
  meshlet(["iptables", "--proxy-uid", String(PROXY_UID), "--inbound-ports", "9080"]);
  report.idempotent = natRules() === once;
  report.rules = once;

  start(
    process.execPath,
    [
      MESHLET_BIN,
      "sidecar",
      "--service",
      "productpage",
      "--app-port",
      "9080",
      "--config",
      config,
      "--log-level",
      "warn",
    ],
    PROXY_UID,
  );
  await until("the sidecar ready", () =>
    nodeOutput(client("http://127.0.0.1:15000/ready", "localhost")).includes('"status":200') ? true : undefined,
  );

  // The app calls an address that exists nowhere, by the name of a mesh service: the sidecar answers.
  report.outbound = JSON.parse(nodeOutput(client("http://10.99.0.1:9080/", "reviews"), { uid: APP_UID }));
  // Called from outside the pod on the app's port, the app sees the sidecar (loopback) as its client.
  report.inbound = JSON.parse(nodeOutput(client("http://10.77.0.2:9080/", "productpage"), { inNs: ns }));

  meshlet(["iptables", "--clean"]);
  report.afterClean = natRules();
  report.outboundAfterClean = JSON.parse(nodeOutput(client("http://10.99.0.1:9080/", "reviews"), { uid: APP_UID }));
  report.inboundAfterClean = JSON.parse(nodeOutput(client("http://10.77.0.2:9080/", "productpage"), { inNs: ns }));
  return report;
}

try {
  process.stdout.write(`${JSON.stringify(await scenario())}\n`);
} finally {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}

/**
 * test:soak — 5 minutes at 1,000 req/s through a real sidecar (the engine), with clients that abort
 * mid-request (head sent, body not), mid-body (part of a body) and mid-response (the upstream streams a
 * slow body and the client leaves). Sockets, fds and heap of the sidecar are sampled at the start (after a
 * 20 s warm-up) and at the end (after a 10 s settle and a GC-friendly pause); growth beyond small slack
 * fails the run (exit 1). Not part of npm test. Env: SOAK_SECONDS (default 300), SOAK_RATE (default 1000).
 */
import { readdirSync, readlinkSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent, createServer, request } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCli, stopProcess } from "../helpers/cli.ts";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 300);
const RATE = Number(process.env.SOAK_RATE ?? 1000);

function sample(pid: number, admin: number): Promise<{ fds: number; sockets: number; heapMb: number }> {
  const fds = readdirSync(`/proc/${pid}/fd`);
  let sockets = 0;
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:")) sockets++;
    } catch {}
  }
  return fetch(`http://127.0.0.1:${admin}/metrics`)
    .then((r) => r.text())
    .then((m) => ({
      fds: fds.length,
      sockets,
      heapMb: Number(/meshlet_nodejs_heap_size_used_bytes (\d+)/.exec(m)?.[1] ?? 0) / 2 ** 20,
    }));
}

async function main(): Promise<void> {
  const upstream = createServer((req, res) => {
    req.resume();
    if (req.url?.startsWith("/slow")) {
      res.writeHead(200, { "content-type": "text/plain" });
      const t = setInterval(() => res.write("x".repeat(1024)), 20);
      res.on("close", () => clearInterval(t));
      setTimeout(() => res.end(), 500);
      return;
    }
    req.on("end", () => res.end("ok"));
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const upPort = (upstream.address() as AddressInfo).port;
  const dir = await mkdtemp(join(tmpdir(), "meshlet-soak-"));
  const cfg = join(dir, "mesh.yaml");
  await writeFile(
    cfg,
    `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: soak}\nspec:\n  loadBalancer: {roundRobin: {}}\n  endpoints: [{address: 127.0.0.1, port: ${upPort}}]\n`,
  );
  const proc = startCli([
    "sidecar",
    "--service",
    "client",
    "--app-port",
    String(upPort),
    "--outbound",
    "127.0.0.1:0",
    "--inbound",
    "127.0.0.1:0",
    "--admin",
    "127.0.0.1:0",
    "--config",
    cfg,
    "--drain-delay",
    "0",
  ]);
  let log = "";
  proc.stderr?.on("data", (c: Buffer) => {
    log += c.toString();
  });
  const ports = await new Promise<{ outbound: number; admin: number }>((resolve, reject) => {
    const t = setInterval(() => {
      const line = log.split("\n").find((l) => l.includes('"sidecar listening"'));
      if (line === undefined) return;
      clearInterval(t);
      const j = JSON.parse(line) as Record<string, string>;
      const port = (a: string | undefined) => Number(a?.slice(a.lastIndexOf(":") + 1));
      resolve({ outbound: port(j.outbound), admin: port(j.admin) });
    }, 50);
    setTimeout(() => reject(new Error(`sidecar did not start:\n${log}`)), 30_000);
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 20 });
  const counts = { ok: 0, failed: 0, abortedHead: 0, abortedBody: 0, abortedResponse: 0 };
  const one = (n: number) => {
    const kind = n % 20;
    if (kind === 0) {
      const s = connect(ports.outbound, "127.0.0.1");
      s.on("error", () => {});
      s.write("POST / HTTP/1.1\r\nHost: soak\r\nContent-Length: 100\r\n\r\n");
      setTimeout(() => s.destroy(), 50);
      counts.abortedHead++;
      return;
    }
    if (kind === 1) {
      const s = connect(ports.outbound, "127.0.0.1");
      s.on("error", () => {});
      s.write(`POST / HTTP/1.1\r\nHost: soak\r\nContent-Length: 1000\r\n\r\n${"y".repeat(300)}`);
      setTimeout(() => s.destroy(), 50);
      counts.abortedBody++;
      return;
    }
    if (kind === 2) {
      const req = request(
        { host: "127.0.0.1", port: ports.outbound, path: "/slow", headers: { host: "soak" }, agent: false },
        (res) => {
          res.once("data", () => req.destroy());
          res.on("error", () => {});
        },
      );
      req.on("error", () => {});
      req.end();
      counts.abortedResponse++;
      return;
    }
    const req = request(
      { host: "127.0.0.1", port: ports.outbound, method: "POST", headers: { host: "soak" }, agent },
      (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? counts.ok++ : counts.failed++));
      },
    );
    req.on("error", () => counts.failed++);
    req.end("hello");
  };
  const drive = (ms: number) =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      let sent = 0;
      const t = setInterval(() => {
        const due = Math.floor(((performance.now() - started) * RATE) / 1000);
        for (; sent < due; sent++) one(sent);
        if (performance.now() - started >= ms) {
          clearInterval(t);
          resolve();
        }
      }, 2);
    });
  await drive(20_000);
  await new Promise((r) => setTimeout(r, 3_000));
  const pid = proc.pid as number;
  const before = await sample(pid, ports.admin);
  await drive(SECONDS * 1000);
  await new Promise((r) => setTimeout(r, 10_000));
  const after = await sample(pid, ports.admin);
  agent.destroy();
  const rss =
    Number(
      /meshlet_process_resident_memory_bytes (\d+)/.exec(
        await (await fetch(`http://127.0.0.1:${ports.admin}/metrics`)).text(),
      )?.[1] ?? 0,
    ) /
    2 ** 20;
  await stopProcess(proc, 15_000);
  upstream.closeAllConnections();
  upstream.close();
  await rm(dir, { recursive: true, force: true });
  process.stdout.write(
    `test:soak — ${SECONDS}s at ${RATE} req/s, Node ${process.version}\ncounts: ${JSON.stringify(counts)}\nstart: ${JSON.stringify(before)}\nend:   ${JSON.stringify(after)}\nRSS at end: ${rss.toFixed(0)} MB\n`,
  );
  const grew =
    after.sockets > before.sockets + 5 || after.fds > before.fds + 5 || after.heapMb > before.heapMb * 1.5 + 5;
  if (grew || counts.failed > counts.ok / 1000) {
    process.stdout.write("FAILED: growth or failures beyond slack\n");
    process.exit(1);
  }
  process.stdout.write("ok: no growth in sockets, fds or heap\n");
}

await main();

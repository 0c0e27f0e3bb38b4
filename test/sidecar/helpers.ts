import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCli, stopProcess } from "../helpers/cli.ts";

export interface RunningSidecar {
  proc: ChildProcess;
  outbound: number;
  inbound: number;
  admin: number;
  dir: string;
  configFile: string;
  logs: () => string;
  stop: () => Promise<number | null>;
}

/** Starts `meshlet sidecar` on ports from 0 and waits for its "sidecar listening" log line. */
export async function startSidecar(
  config: string | undefined,
  options: {
    service?: string;
    appPort?: number;
    dir?: string;
    args?: string[];
    staticConfig?: boolean;
    env?: NodeJS.ProcessEnv;
  } = {},
): Promise<RunningSidecar> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "meshlet-sidecar-")));
  const configFile = join(dir, "mesh.yaml");
  if (config !== undefined) await writeFile(configFile, config);
  const proc = startCli(
    [
      "sidecar",
      "--service",
      options.service ?? "client",
      "--app-port",
      String(options.appPort ?? 1),
      "--outbound",
      "127.0.0.1:0",
      "--inbound",
      "127.0.0.1:0",
      "--admin",
      "127.0.0.1:0",
      ...(options.staticConfig === false ? [] : ["--config", configFile]),
      "--data-dir",
      dir,
      "--drain-delay",
      "0",
      ...(options.args ?? []),
    ],
    options.env,
  );
  let log = "";
  proc.stderr?.on("data", (c: Buffer) => {
    log += c.toString();
  });
  const ports = await new Promise<{ outbound: number; inbound: number; admin: number }>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`sidecar did not start:\n${log}`)), 30_000);
    const check = () => {
      for (const line of log.split("\n")) {
        if (!line.includes('"sidecar listening"')) continue;
        const j = JSON.parse(line) as Record<string, string>;
        clearTimeout(deadline);
        proc.stderr?.off("data", check);
        const port = (a: string | undefined) => Number(a?.slice(a.lastIndexOf(":") + 1));
        resolve({ outbound: port(j.outbound), inbound: port(j.inbound), admin: port(j.admin) });
        return;
      }
    };
    proc.stderr?.on("data", check);
    proc.once("exit", (code) => {
      clearTimeout(deadline);
      reject(new Error(`sidecar exited with ${code}:\n${log}`));
    });
  });
  return {
    proc,
    ...ports,
    dir,
    configFile,
    logs: () => log,
    stop: async () => {
      const code = await stopProcess(proc, 15_000);
      if (options.dir === undefined) await rm(dir, { recursive: true, force: true });
      return code;
    },
  };
}

export interface Upstream {
  server: Server;
  port: number;
  close: () => Promise<void>;
}

export async function startUpstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Upstream> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A port nothing listens on right now (bound, then released): a refused connection, or a listener to come. */
export async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** An upstream that answers its own name, for counting where requests went. */
export function nameServer(name: string) {
  return startUpstream((req, res) => {
    req.resume();
    res.setHeader("x-upstream", name);
    res.end(name);
  });
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  body: string;
}

export function send(
  port: number,
  options: { path?: string; method?: string; headers?: Record<string, string> | string[]; body?: string | Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: options.path ?? "/",
        method: options.method ?? "GET",
        headers: options.headers ?? {},
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A Route for host `host` with the given `spec.http` entries (YAML lines indented four spaces). */
export function route(host: string, http: string): string {
  return `apiVersion: meshlet.dev/v1
kind: Route
metadata: {name: ${host}}
spec:
  hosts: [${host}]
  http:
${http}
`;
}

export function service(
  name: string,
  endpoints: { port: number; labels?: Record<string, string>; weight?: number }[],
  lb = "roundRobin: {}",
): string {
  const eps = endpoints
    .map(
      (e) =>
        `    - {address: 127.0.0.1, port: ${e.port}, weight: ${e.weight ?? 1}, labels: ${JSON.stringify(e.labels ?? {})}}`,
    )
    .join("\n");
  return `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: ${name}}
spec:
  loadBalancer: {${lb}}
  endpoints:
${eps || "    []"}
`;
}

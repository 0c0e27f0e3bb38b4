import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type Client,
  credentials,
  loadPackageDefinition,
  Metadata,
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { type RunningSidecar, startSidecar } from "../helpers.ts";

export interface Msg {
  text?: string | undefined;
  backend?: string;
  blob?: Buffer | undefined;
  n?: number;
}

const definition = loadSync(join(dirname(fileURLToPath(import.meta.url)), "echo.proto"), {
  keepCase: true,
  defaults: true,
  longs: Number,
});
// biome-ignore lint/suspicious/noExplicitAny: the loaded package is untyped by nature.
const pkg = loadPackageDefinition(definition) as any;
const healthDefinition = loadSync(join(dirname(fileURLToPath(import.meta.url)), "health.proto"), {
  keepCase: true,
  defaults: true,
  enums: Number,
});
// biome-ignore lint/suspicious/noExplicitAny: as pkg.
const healthPkg = loadPackageDefinition(healthDefinition) as any;

/** grpc.health.v1 serving statuses. */
export const SERVING = 1;
export const NOT_SERVING = 2;
const EchoClient = pkg.meshlet.test.Echo as new (
  target: string,
  creds: ReturnType<typeof credentials.createInsecure>,
  options?: Record<string, unknown>,
) => Client;

export interface EchoBackend {
  name: string;
  port: number;
  calls: number;
  /** What grpc.health.v1.Health/Check answers, by service name ("" = the server); an absent one is NOT_FOUND. */
  health: Map<string, number>;
  close: () => Promise<void>;
}

/**
 * A grpc-js Echo server answering with its name. `unavailable`: every call answers UNAVAILABLE once it read
 * the whole request (so the call was sent: only a copy of it can go again).
 */
export async function startEchoBackend(name: string, opts: { unavailable?: boolean } = {}): Promise<EchoBackend> {
  const server = new Server({ "grpc.max_receive_message_length": 8 << 20 });
  const b: EchoBackend = {
    name,
    port: 0,
    calls: 0,
    health: new Map([
      ["", SERVING],
      ["meshlet.test.Echo", SERVING],
    ]),
    close: () => new Promise<void>((r) => server.tryShutdown(() => r())),
  };
  server.addService(pkg.meshlet.test.Echo.service, {
    Unary: (call: ServerUnaryCall<Msg, Msg>, cb: sendUnaryData<Msg>) => {
      b.calls++;
      if (call.request.text === "fail" || opts.unavailable === true) {
        cb(Object.assign(new Error("told to fail"), { code: status.UNAVAILABLE, details: "told to fail" }));
        return;
      }
      const reply = () => cb(null, { text: call.request.text ?? "", backend: name });
      const delay = call.request.n ?? 0;
      if (delay > 0) setTimeout(reply, delay);
      else reply();
    },
    Collect: (call: ServerReadableStream<Msg, Msg>, cb: sendUnaryData<Msg>) => {
      b.calls++;
      let text = "";
      let bytes = 0;
      call.on("data", (m: Msg) => {
        text += m.text ?? "";
        bytes += m.blob?.length ?? 0;
      });
      call.on("end", () =>
        opts.unavailable === true
          ? cb(Object.assign(new Error("unavailable"), { code: status.UNAVAILABLE, details: "unavailable" }))
          : cb(null, { text, backend: name, n: bytes }),
      );
    },
    Repeat: (call: ServerWritableStream<Msg, Msg>) => {
      b.calls++;
      const blob = call.request.blob ?? Buffer.alloc(0);
      for (let i = 0; i < (call.request.n ?? 0); i++)
        call.write({ text: `${call.request.text}-${i}`, backend: name, blob });
      call.end();
    },
    Chat: (call: ServerDuplexStream<Msg, Msg>) => {
      b.calls++;
      call.on("data", (m: Msg) => call.write({ text: `re:${m.text}`, backend: name, blob: m.blob }));
      call.on("end", () => call.end());
    },
  });
  server.addService(healthPkg.grpc.health.v1.Health.service, {
    Check: (call: ServerUnaryCall<{ service: string }, unknown>, cb: sendUnaryData<unknown>) => {
      const s = b.health.get(call.request.service);
      if (s === undefined) cb(Object.assign(new Error("unknown service"), { code: status.NOT_FOUND }));
      else cb(null, { status: s });
    },
  });
  b.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
  return b;
}

/** A grpc-js Echo client on `port`, its calls carrying `authority` (the Host the outbound sidecar routes by). */
// biome-ignore lint/suspicious/noExplicitAny: the generated client's methods are untyped.
export function echoClient(port: number, authority: string): any {
  return new EchoClient(`127.0.0.1:${port}`, credentials.createInsecure(), {
    "grpc.default_authority": authority,
    "grpc.max_receive_message_length": 8 << 20,
    "grpc.max_send_message_length": 8 << 20,
  });
}

export function unary(
  // biome-ignore lint/suspicious/noExplicitAny: see echoClient.
  client: any,
  req: Msg,
  options: { deadlineMs?: number; metadata?: Metadata } = {},
): Promise<{ msg?: Msg; err?: ServiceError }> {
  return new Promise((resolve) => {
    const opts = options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
    client.Unary(req, options.metadata ?? new Metadata(), opts, (err: ServiceError | null, msg: Msg) =>
      resolve(err === null ? { msg } : { err }),
    );
  });
}

/** A grpc Service resource whose endpoints are the given ports. */
export function grpcService(name: string, ports: number[], lb = "roundRobin: {}", protocol = "grpc"): string {
  const eps = ports.map((p) => `    - {address: 127.0.0.1, port: ${p}, weight: 1}`).join("\n");
  return `apiVersion: meshlet.dev/v1
kind: Service
metadata: {name: ${name}}
spec:
  ports: [{port: 50051, protocol: ${protocol}}]
  loadBalancer: {${lb}}
  endpoints:
${eps || "    []"}
`;
}

export interface EchoMesh {
  backends: EchoBackend[];
  /** One sidecar of Service "echo" in front of each backend. */
  servers: RunningSidecar[];
  /** A caller's sidecar: Service "echo" over the servers' inbound ports, and `extra(inbound ports)`. */
  client: RunningSidecar;
  stop(): Promise<void>;
}

/** Three grpc-js backends b0..b2, each behind its own sidecar, and one client sidecar in front of them. */
export async function startEchoMesh(extra: (inbound: number[]) => string[] = () => []): Promise<EchoMesh> {
  const backends = await Promise.all(["b0", "b1", "b2"].map((n) => startEchoBackend(n)));
  const servers = await Promise.all(
    backends.map((b) => startSidecar(grpcService("echo", []), { service: "echo", appPort: b.port })),
  );
  const inbound = servers.map((s) => s.inbound);
  const client = await startSidecar([grpcService("echo", inbound), ...extra(inbound)].join("---\n"));
  return {
    backends,
    servers,
    client,
    async stop() {
      await Promise.all([client, ...servers].map((s) => s.stop()));
      await Promise.all(backends.map((b) => b.close()));
    },
  };
}

import { constants, connect as h2connect } from "node:http2";
import { createRequire } from "node:module";
import type * as Protobuf from "protobufjs";
import { type Connector, tcpConnector } from "../engine/connect.ts";

const CHECK_PATH = "/grpc.health.v1.Health/Check";
/** grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING. */
const SERVING = 1;

const require = createRequire(import.meta.url);

/** grpc.health.v1's two messages, made at the first check (a sidecar without gRPC checks never loads protobufjs). */
let messages: { request: Protobuf.Type; response: Protobuf.Type } | undefined;
function healthMessages(): { request: Protobuf.Type; response: Protobuf.Type } {
  if (messages === undefined) {
    const { Field, Type } = require("protobufjs/light") as typeof Protobuf;
    messages = {
      request: new Type("HealthCheckRequest").add(new Field("service", 1, "string")),
      response: new Type("HealthCheckResponse").add(new Field("status", 1, "int32")),
    };
  }
  return messages;
}

/** HealthCheckRequest{service} as a length-prefixed gRPC message (the empty name, the default, is not sent). */
export function healthCheckRequest(service: string): Buffer {
  const msg = healthMessages()
    .request.encode(service === "" ? {} : { service })
    .finish();
  const out = Buffer.alloc(5 + msg.length);
  out.writeUInt32BE(msg.length, 1);
  out.set(msg, 5);
  return out;
}

/**
 * The serving status in a HealthCheckResponse body (one length-prefixed message); 0 (UNKNOWN) when the body is
 * not one uncompressed message, cannot be decoded, or has no status field.
 */
export function servingStatus(body: Buffer): number {
  if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) return 0;
  try {
    const status = (healthMessages().response.decode(body.subarray(5)) as { status?: number }).status;
    return typeof status === "number" ? status : 0;
  } catch {
    return 0;
  }
}

/** The most a health answer may carry: a HealthCheckResponse is a few bytes. */
const MAX_ANSWER = 4096;

/**
 * grpc.health.v1.Health/Check on a fresh h2c connection (a pooled one could hide a dead listener): passes when
 * the call ends with grpc-status 0 and the answer says SERVING, within the timeout. NOT_SERVING, UNKNOWN, a
 * NOT_FOUND service, any other status, a reset or a refused connection fail.
 */
export function grpcHealthProbe(
  target: { host: string; port: number },
  service: string,
  timeoutMs: number,
  connect: Connector = tcpConnector,
): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let done = false;
    const authority = `${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`;
    const session = h2connect(`http://${authority}`, {
      createConnection: () => connect(target.host, target.port).socket,
    });
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    timer.unref();
    session.on("error", () => finish(false));
    session.on("close", () => finish(false));
    let stream: ReturnType<typeof session.request>;
    try {
      stream = session.request({
        ":method": "POST",
        ":path": CHECK_PATH,
        ":authority": authority,
        "content-type": "application/grpc",
        te: "trailers",
        "user-agent": "meshlet-health-check",
      });
    } catch {
      finish(false);
      return;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    let grpcStatus: unknown;
    stream.on("response", (h) => {
      if (h[":status"] !== 200) finish(false);
      grpcStatus = h["grpc-status"];
    });
    stream.on("trailers", (t) => {
      grpcStatus = t["grpc-status"];
    });
    stream.on("data", (c: Buffer) => {
      bytes += c.length;
      if (bytes > MAX_ANSWER) finish(false);
      else chunks.push(c);
    });
    stream.on("end", () => finish(grpcStatus === "0" && servingStatus(Buffer.concat(chunks)) === SERVING));
    stream.on("error", () => finish(false));
    stream.on("close", () => {
      if (stream.rstCode !== undefined && stream.rstCode !== constants.NGHTTP2_NO_ERROR) finish(false);
    });
    stream.end(healthCheckRequest(service));
  });
}

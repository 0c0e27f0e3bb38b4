import { constants, connect as h2connect } from "node:http2";
import { type Connector, tcpConnector } from "../engine/connect.ts";

const CHECK_PATH = "/grpc.health.v1.Health/Check";
/** grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING. */
const SERVING = 1;

/** HealthCheckRequest{service} as a length-prefixed gRPC message (field 1, length-delimited). */
export function healthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, "utf8");
  const len = varint(name.length);
  const msgLength = name.length === 0 ? 0 : 1 + len.length + name.length;
  const out = Buffer.alloc(5 + msgLength);
  out.writeUInt32BE(msgLength, 1);
  if (msgLength > 0) {
    out[5] = 0x0a;
    len.copy(out, 6);
    name.copy(out, 6 + len.length);
  }
  return out;
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  let v = n;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

/**
 * The serving status in a HealthCheckResponse body (one length-prefixed message); 0 (UNKNOWN) when the body is
 * not one uncompressed message or has no status field. Fields other than `status` are skipped by wire type.
 */
export function servingStatus(body: Buffer): number {
  if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) return 0;
  let i = 5;
  let status = 0;
  while (i < body.length) {
    const key = readVarint(body, i);
    if (key === undefined) return 0;
    i = key.next;
    const field = key.value >>> 3;
    const wire = key.value & 7;
    if (wire === 0) {
      const v = readVarint(body, i);
      if (v === undefined) return 0;
      if (field === 1) status = v.value;
      i = v.next;
    } else if (wire === 2) {
      const len = readVarint(body, i);
      if (len === undefined) return 0;
      i = len.next + len.value;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else return 0;
  }
  return i === body.length ? status : 0;
}

function readVarint(b: Buffer, from: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let i = from, shift = 0; i < b.length && shift < 35; i++, shift += 7) {
    const byte = b[i] as number;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return { value, next: i + 1 };
  }
  return undefined;
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

import { connect } from "node:net";
import { connect as tlsConnect } from "node:tls";

/** A piece of a raw request: bytes to write, or a pause (ms) before the next piece. */
export type RawPiece = string | Buffer | { pauseMs: number };

export interface RawResponse {
  /** 0 when the server closed the connection without a response. */
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (after the response, if any). */
  closed: boolean;
  /** Milliseconds from connecting until the response was complete or the connection closed. */
  ms: number;
}

/**
 * Sends a request exactly as given, byte for byte and at the given pace (a
 * client such as fetch would fix up what a hostile one sends), and reads one
 * response. Resolves when the response is complete and the server closed the
 * connection, or after `waitMs`.
 */
export function rawRequest(port: number, pieces: RawPiece[], waitMs = 15_000): Promise<RawResponse> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const socket =
      trustedCa === undefined
        ? connect(port, "127.0.0.1")
        : tlsConnect({ port, host: "127.0.0.1", ca: trustedCa, servername: "localhost" });
    const chunks: Buffer[] = [];
    let closed = false;
    let completeAt: number | undefined;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...parse(Buffer.concat(chunks)), closed, ms: (completeAt ?? Date.now()) - t0 });
    };
    const timer = setTimeout(finish, waitMs);
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      if (completeAt === undefined && complete(Buffer.concat(chunks))) completeAt = Date.now();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      closed = true;
      finish();
    });
    void (async () => {
      for (const piece of pieces) {
        if (socket.destroyed) return;
        if (typeof piece === "object" && !Buffer.isBuffer(piece)) {
          await new Promise((r) => setTimeout(r, piece.pauseMs));
          continue;
        }
        socket.write(piece);
      }
    })();
  });
}

function parse(buf: Buffer): Omit<RawResponse, "closed" | "ms"> {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return { status: 0, headers: {}, body: "" };
  const [statusLine = "", ...lines] = buf.subarray(0, end).toString("latin1").split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const length = Number(headers["content-length"] ?? Number.NaN);
  const rest = buf.subarray(end + 4);
  return { status, headers, body: (Number.isNaN(length) ? rest : rest.subarray(0, length)).toString("utf8") };
}

function complete(buf: Buffer): boolean {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(buf.subarray(0, end).toString("latin1"))?.[1];
  return length !== undefined && buf.length - end - 4 >= Number(length);
}

/** A whole request with a Content-Length body (unless `headers` says otherwise) and Connection: close. */
let defaultAuthorization: string | undefined;

/**
 * The Authorization header every httpRequest() carries unless it names its own: hostile-input tests aim at the
 * parsing behind the control plane's token check, so their requests are authorized (undefined: none).
 */
let trustedCa: Buffer | undefined;

/** Raw requests go over TLS trusting `ca` (a control plane's ca.pem), or plain without one. */
export function setRawTlsCa(ca: Buffer | undefined): void {
  trustedCa = ca;
}

export function setDefaultAuthorization(value: string | undefined): void {
  defaultAuthorization = value;
}

export function httpRequest(
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body: Buffer | string = "",
): Buffer {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
  const auth = defaultAuthorization === undefined ? {} : { authorization: defaultAuthorization };
  const all: Record<string, string> = { host: "127.0.0.1", connection: "close", ...auth, ...headers };
  if (all["transfer-encoding"] === undefined && (bytes.length > 0 || method === "POST" || method === "PUT"))
    all["content-length"] ??= String(bytes.length);
  const head = Object.entries(all)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  return Buffer.concat([Buffer.from(`${method} ${target} HTTP/1.1\r\n${head}\r\n`, "latin1"), bytes]);
}

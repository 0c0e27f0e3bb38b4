import { type AddressInfo, createServer, type Server, type Socket } from "node:net";

/**
 * A byte-recording HTTP/1.1 upstream: it keeps every byte each connection
 * received and answers each complete request (Content-Length or chunked, as
 * the sidecar forwards them) with `200 ok`, echoing the method in a header.
 * Its own framing is deliberately minimal: the sidecar sends one of the two
 * framings only, and the test checks those bytes exactly.
 */
export interface RawUpstream {
  port: number;
  /** Bytes received, per connection, in arrival order. */
  received(): string[];
  all(): string;
  reset(): void;
  close(): Promise<void>;
}

function complete(buf: string): number {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return -1;
  const head = buf.slice(0, end).toLowerCase();
  const cl = /\r\ncontent-length: *(\d+)/.exec(head);
  if (cl !== null) {
    const total = end + 4 + Number(cl[1]);
    return buf.length >= total ? total : -1;
  }
  if (/\r\ntransfer-encoding: *chunked/.test(head)) {
    const last = buf.indexOf("\r\n0\r\n\r\n", end);
    const first = buf.startsWith("0\r\n\r\n", end + 4) ? end + 4 : -1;
    if (first >= 0) return first + 5;
    return last < 0 ? -1 : last + 7;
  }
  return end + 4;
}

export async function startRawUpstream(): Promise<RawUpstream> {
  const conns: { socket: Socket; bytes: string }[] = [];
  const server: Server = createServer((socket) => {
    const c = { socket, bytes: "" };
    conns.push(c);
    let pending = "";
    socket.on("data", (b: Buffer) => {
      c.bytes += b.toString("latin1");
      pending += b.toString("latin1");
      for (;;) {
        const n = complete(pending);
        if (n < 0) break;
        const method = pending.slice(0, pending.indexOf(" "));
        pending = pending.slice(n);
        const body = method === "HEAD" ? "" : "ok";
        socket.write(`HTTP/1.1 200 OK\r\nx-method: ${method}\r\ncontent-length: 2\r\n\r\n${body}`);
      }
    });
    socket.on("error", () => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    received: () => conns.map((c) => c.bytes).filter((b) => b !== ""),
    all: () => conns.map((c) => c.bytes).join(""),
    reset: () => {
      for (const c of conns) c.bytes = "";
    },
    close: () =>
      new Promise<void>((r) => {
        for (const c of conns) c.socket.destroy();
        server.close(() => r());
      }),
  };
}

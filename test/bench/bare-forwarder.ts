/**
 * The floor of Node for bench:engine: a keep-alive HTTP/1.1 forwarder on bare `node:net` sockets, no
 * parser beyond finding the head's end and its Content-Length, no checks, no policies, no telemetry.
 * `node bare-forwarder.ts LISTEN_PORT UPSTREAM_PORT`. Requests and responses with a Content-Length (or
 * none) only: what the bench sends and its upstream answers. Not a proxy to use: it trusts every byte.
 */
import { connect, createServer, type Socket } from "node:net";

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
const idle: Upstream[] = [];
const CRLF2 = Buffer.from("\r\n\r\n");

/** Content-Length of the head in `buf[0, end)`, 0 when absent. */
function lengthOf(buf: Buffer, end: number): number {
  const head = buf.toString("latin1", 0, end);
  const m = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
  return m === null ? 0 : Number(m[1]);
}

/** Reads one message (head + Content-Length body) at a time from `from`, copying its bytes to `to()`. */
function messages(from: Socket, to: () => Socket | undefined, onHead: () => void, onEnd: () => void): void {
  let buf: Buffer | undefined;
  let left = -1;
  from.on("data", (b: Buffer) => {
    let chunk: Buffer | undefined = b;
    while (chunk !== undefined && chunk.length > 0) {
      if (left < 0) {
        buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
        const end = buf.indexOf(CRLF2);
        if (end < 0) return;
        left = lengthOf(buf, end + 4);
        onHead();
        chunk = buf.subarray(end + 4);
        to()?.write(buf.subarray(0, end + 4));
        buf = undefined;
      }
      const take = Math.min(left, chunk.length);
      if (take > 0) to()?.write(chunk.subarray(0, take));
      left -= take;
      chunk = chunk.subarray(take);
      if (left === 0) {
        left = -1;
        onEnd();
      }
    }
  });
}

/** A pooled upstream socket and the client its current response goes to. */
interface Upstream {
  socket: Socket;
  client: Socket | undefined;
}

function open(): Upstream {
  const u: Upstream = {
    socket: connect({ port: upstreamPort ?? 0, host: "127.0.0.1", noDelay: true }),
    client: undefined,
  };
  u.socket.on("error", () => u.socket.destroy());
  messages(
    u.socket,
    () => u.client,
    () => {},
    () => {
      u.client = undefined;
      idle.push(u);
    },
  );
  return u;
}

createServer({ noDelay: true }, (client) => {
  let up: Upstream | undefined;
  client.on("error", () => client.destroy());
  messages(
    client,
    () => up?.socket,
    () => {
      up = idle.pop() ?? open();
      up.client = client;
    },
    () => {},
  );
}).listen(listenPort, "127.0.0.1");

import { connect, createServer, type Server, type Socket } from "node:net";

/** One connection through the tap: the bytes each way (the first `cap` of them) and its two sockets. */
export interface Tapped {
  /** Client to server. */
  up: Buffer;
  /** Server to client. */
  down: Buffer;
  client: Socket;
  server: Socket;
}

export interface TcpTap {
  connections: Tapped[];
  /** Closes every open connection at once, as a network failure or a peer's idle timeout would. */
  cut(): void;
  close(): Promise<void>;
}

/**
 * A TCP relay that records what crosses it: listens on `listen` and forwards each connection to `target`, so a
 * test can see the bytes on the wire between two processes (and cut connections) without touching either.
 */
export async function startTap(
  listen: { host: string; port: number },
  target: { host: string; port: number },
  cap = 64 * 1024,
): Promise<TcpTap> {
  const connections: Tapped[] = [];
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    const c: Tapped = { up: Buffer.alloc(0), down: Buffer.alloc(0), client, server: upstream };
    connections.push(c);
    const keep = (have: Buffer, d: Buffer) => (have.length >= cap ? have : Buffer.concat([have, d]).subarray(0, cap));
    client.on("data", (d: Buffer) => {
      c.up = keep(c.up, d);
      upstream.write(d);
    });
    upstream.on("data", (d: Buffer) => {
      c.down = keep(c.down, d);
      client.write(d);
    });
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, resolve);
  });
  const cut = () => {
    for (const c of connections) {
      c.client.destroy();
      c.server.destroy();
    }
  };
  return {
    connections,
    cut,
    close() {
      cut();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** The extension types of the first TLS handshake message of `type` (1 ClientHello, 2 ServerHello) in `bytes`. */
export function helloExtensions(bytes: Buffer, type: 1 | 2): number[] | undefined {
  if (bytes.length < 5 || bytes[0] !== 0x16) return undefined;
  const hs = bytes.subarray(5, 5 + bytes.readUInt16BE(3));
  if (hs[0] !== type) return undefined;
  let off = 4 + 2 + 32; // header, legacy version, random
  off += 1 + (hs[off] ?? 0); // legacy session id
  if (type === 1) {
    off += 2 + hs.readUInt16BE(off); // cipher suites
    off += 1 + (hs[off] ?? 0); // compression methods
  } else {
    off += 2 + 1; // cipher suite, compression method
  }
  const end = off + 2 + hs.readUInt16BE(off);
  const types: number[] = [];
  for (off += 2; off + 4 <= end; off += 4 + hs.readUInt16BE(off + 2)) types.push(hs.readUInt16BE(off));
  return types;
}

/** TLS 1.3's pre_shared_key extension: offered in a ClientHello that resumes, echoed in the ServerHello that accepts. */
export const PRE_SHARED_KEY = 41;

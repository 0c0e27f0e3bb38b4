import { connect, type Socket } from "node:net";

/**
 * How the engine opens a connection to an upstream endpoint: `ready` hears once that it can carry bytes (or
 * why not). The one place a transport (TLS, for mesh peers) wraps the byte stream; HTTP/1.1 or HTTP/2 on top
 * does not know which.
 */
export type Connect = (host: string, port: number, ready: (err: NodeJS.ErrnoException | undefined) => void) => Socket;

/** Plain TCP, Nagle off (requests are written whole). */
export const tcpConnect: Connect = (host, port, ready) => {
  const socket = connect({ host, port, noDelay: true });
  const onError = (err: NodeJS.ErrnoException) => ready(err);
  socket.once("error", onError);
  socket.once("connect", () => {
    socket.removeListener("error", onError);
    ready(undefined);
  });
  return socket;
};

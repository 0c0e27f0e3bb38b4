import { connect, type Socket } from "node:net";

/**
 * How the engine opens a connection to an upstream endpoint: the socket, and the event that says it can carry
 * bytes ("connect" for TCP, "secureConnect" once a TLS handshake is done). The one place a transport (mTLS to
 * a peer sidecar) wraps the byte stream; HTTP/2 on top does not know which.
 */
export type Connector = (host: string, port: number) => { socket: Socket; ready: "connect" | "secureConnect" };

/** Plain TCP, Nagle off. */
export const tcpConnector: Connector = (host, port) => ({
  socket: connect({ host, port, noDelay: true }),
  ready: "connect",
});

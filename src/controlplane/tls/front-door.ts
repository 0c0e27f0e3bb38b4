import type { Server as HttpServer } from "node:http";
import { createServer as createH2Server, constants as h2 } from "node:http2";
import type { Server as NetServer, Socket } from "node:net";
import { Duplex } from "node:stream";
import {
  createServer as createTlsServer,
  type SecureContextOptions,
  type TLSSocket,
  type Server as TlsServer,
} from "node:tls";
import { Counter, type Registry } from "prom-client";

/** The first byte of a TLS record carrying a handshake. */
const TLS_HANDSHAKE = 0x16;
/** A client that sends nothing for this long is dropped before its first byte decides anything. */
const FIRST_BYTE_TIMEOUT_MS = 10_000;

export const TLS_REQUIRED_MESSAGE =
  "this control plane serves TLS only: use https:// (or --server https://HOST:PORT) and --ca-file <data-dir>/ca.pem";

export type Surface = "http" | "grpc";

/**
 * The TLS side of the control plane's two ports. Each accepted socket is sniffed: a TLS handshake goes through
 * TLS with this node's certificate; anything else gets a clear refusal instead of a TLS alert a person cannot
 * read: plain HTTP a 400 with code ERR_TLS_REQUIRED, plain gRPC (h2c) UNAVAILABLE with the same words.
 * Counted in meshlet_control_tls_refused_total{surface, reason}.
 */
export class TlsFrontDoor {
  readonly #refused: Counter<"surface" | "reason">;
  readonly #servers: { surface: Surface; tls: TlsServer }[] = [];
  readonly #h2c = createH2Server();

  constructor(registry: Registry) {
    this.#refused = new Counter({
      name: "meshlet_control_tls_refused_total",
      help: "Connections to the control plane's TLS ports refused, by surface (http, grpc) and reason (plaintext, handshake)",
      labelNames: ["surface", "reason"],
      registers: [registry],
    });
    this.#h2c.on("stream", (stream) => {
      this.#refused.inc({ surface: "grpc", reason: "plaintext" });
      stream.respond(
        {
          [h2.HTTP2_HEADER_STATUS]: 200,
          [h2.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
          "grpc-status": "14",
          // Printable ASCII without "%": sent as is (the gRPC spec percent-encodes only other bytes).
          "grpc-message": TLS_REQUIRED_MESSAGE,
        },
        { endStream: true },
      );
    });
    // Idle plain sessions go: the client learnt why on its first call.
    this.#h2c.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => {});
    this.#h2c.on("session", (session) => session.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => session.close()));
    this.#h2c.on("sessionError", () => {});
  }

  /**
   * Moves `http`'s connection handling behind the sniffer: it keeps its listener, timeouts and connection
   * tracking (close, closeAllConnections), and sees TLS sockets once their handshake is done.
   */
  wrapHttp(http: HttpServer, context: SecureContextOptions): void {
    const handlers = http.listeners("connection") as ((s: Socket) => void)[];
    http.removeAllListeners("connection");
    const tls = this.#tlsServer("http", context, false, (socket) => {
      for (const h of handlers) h.call(http, socket);
    });
    http.on("connection", (socket: Socket) =>
      this.#sniff(socket, tls, (plain) => {
        this.#refused.inc({ surface: "http", reason: "plaintext" });
        const body = JSON.stringify({ error: { code: "ERR_TLS_REQUIRED", message: TLS_REQUIRED_MESSAGE } });
        plain.end(
          `HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
      }),
    );
  }

  /** Serves the gRPC port: TLS sockets (client certificate requested, not required) go to `onSecure`. */
  serveGrpc(server: NetServer, context: SecureContextOptions, onSecure: (socket: TLSSocket) => void): void {
    const tls = this.#tlsServer("grpc", context, true, onSecure);
    server.on("connection", (socket: Socket) =>
      this.#sniff(socket, tls, (plain, first) => {
        // "PRI * HTTP/2.0": a gRPC client without TLS; it is told why in a status it shows. Anything else is closed.
        // http2 would read past the sniffed bytes on the raw socket handle; through a stream wrapper it reads them.
        if (first.subarray(0, 3).toString("latin1") === "PRI")
          this.#h2c.emit("connection", Duplex.from({ readable: plain, writable: plain }));
        else {
          this.#refused.inc({ surface: "grpc", reason: "plaintext" });
          plain.destroy();
        }
      }),
    );
  }

  /** New certificate or bundle: new handshakes use it, open connections keep theirs. */
  update(context: SecureContextOptions): void {
    for (const { tls, surface } of this.#servers) tls.setSecureContext(contextFor(surface, context));
  }

  close(): void {
    this.#h2c.close();
    for (const { tls } of this.#servers) tls.close();
  }

  #tlsServer(
    surface: Surface,
    context: SecureContextOptions,
    requestCert: boolean,
    onSecure: (socket: TLSSocket) => void,
  ): TlsServer {
    const tls = createTlsServer({
      ...contextFor(surface, context),
      requestCert,
      // Peers' certificates are judged per call (peer-auth.ts); sidecars and the CLI present none.
      rejectUnauthorized: false,
      ALPNProtocols: surface === "grpc" ? ["h2"] : ["http/1.1"],
    });
    tls.on("secureConnection", onSecure);
    tls.on("tlsClientError", (_err, socket) => {
      this.#refused.inc({ surface, reason: "handshake" });
      socket.destroy();
    });
    this.#servers.push({ surface, tls });
    return tls;
  }

  #sniff(socket: Socket, tls: TlsServer, plain: (s: Socket, first: Buffer) => void): void {
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy());
    socket.once("error", () => socket.destroy());
    socket.once("data", (first: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE) tls.emit("connection", socket);
      else {
        plain(socket, first);
        socket.resume();
      }
    });
  }
}

function contextFor(surface: Surface, context: SecureContextOptions): SecureContextOptions {
  // Browsers and curl speak TLS 1.2 to the API too; peers and sidecars (grpc-js on Node) speak 1.3.
  return { ...context, minVersion: surface === "grpc" ? "TLSv1.3" : "TLSv1.2" };
}

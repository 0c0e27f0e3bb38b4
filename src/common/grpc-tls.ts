import type { Socket } from "node:net";
import { type ConnectionOptions, connect, type TLSSocket } from "node:tls";
import { CallCredentials, ChannelCredentials } from "@grpc/grpc-js";

/**
 * SNI name sent to control-plane nodes. grpc-js would send the dialled host, and Node warns (DEP0123) when that
 * is an IP; the server ignores SNI, and who the server is is checked by `verify`, not by a hostname.
 */
export const CONTROL_PLANE_SERVERNAME = "meshlet-control-plane";

/**
 * Channel credentials whose TLS options are read at each new connection and whose peer check is ours. grpc-js's
 * own (createSsl) fix the key, certificate and roots when the channel is made, and can only check a hostname; a
 * control-plane node's certificate changes (self-signed until the mesh CA exists, then from the CA) and its
 * peers are told apart by the node named in the certificate. Connections already open keep what they checked.
 */
export class TlsChannelCredentials extends ChannelCredentials {
  readonly #options: () => ConnectionOptions;
  readonly #verify: (socket: TLSSocket) => string | undefined;

  /** `verify` returns why the server is refused, or undefined to accept it. */
  constructor(options: () => ConnectionOptions, verify: (socket: TLSSocket) => string | undefined) {
    super();
    this.#options = options;
    this.#verify = verify;
  }

  _isSecure(): boolean {
    return true;
  }

  _equals(other: ChannelCredentials): boolean {
    return other === this;
  }

  _createSecureConnector(_target: unknown, _options: unknown, callCredentials?: CallCredentials) {
    const calls = callCredentials ?? CallCredentials.createEmpty();
    return {
      connect: (socket: Socket) =>
        new Promise<{ socket: Socket; secure: boolean }>((resolve, reject) => {
          const tls = connect({
            servername: CONTROL_PLANE_SERVERNAME,
            ...this.#options(),
            socket,
            ALPNProtocols: ["h2"],
            // Checked below with the caller's own rules (chain and node name, not a hostname); a refusal still
            // fails the connection.
            rejectUnauthorized: false,
            checkServerIdentity: () => undefined,
          });
          tls.once("secureConnect", () => {
            const refusal = this.#verify(tls);
            if (refusal === undefined) {
              resolve({ socket: tls, secure: true });
              return;
            }
            tls.destroy();
            reject(new Error(refusal));
          });
          tls.once("error", reject);
        }),
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => calls,
      destroy: () => {},
    };
  }
}

import type { Socket } from "node:net";
import { ChannelCredentials } from "@grpc/grpc-js";

type Connector = ReturnType<ChannelCredentials["_createSecureConnector"]>;

/**
 * Channel credentials that secure connections as `inner` does and tell `onConnect` each new connection's local
 * address: the source address the server sees as this client's (the one a control plane in
 * --registration-address peer mode compares a registration with), known only once the TCP connection exists.
 */
export class SourceAddressCredentials extends ChannelCredentials {
  readonly #inner: ChannelCredentials;
  readonly #onConnect: (localAddress: string) => void;

  constructor(inner: ChannelCredentials, onConnect: (localAddress: string) => void) {
    super();
    this.#inner = inner;
    this.#onConnect = onConnect;
  }

  _isSecure(): boolean {
    return this.#inner._isSecure();
  }

  _equals(other: ChannelCredentials): boolean {
    return other === this;
  }

  _createSecureConnector(...args: Parameters<ChannelCredentials["_createSecureConnector"]>): Connector {
    const inner = this.#inner._createSecureConnector(...args);
    return {
      connect: async (socket: Socket) => {
        const connected = await inner.connect(socket);
        if (socket.localAddress !== undefined) this.#onConnect(socket.localAddress);
        return connected;
      },
      waitForReady: () => inner.waitForReady(),
      getCallCredentials: () => inner.getCallCredentials(),
      destroy: () => inner.destroy(),
    };
  }
}

import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy for one directed peer link (node A → node B's gRPC port) that
 * the test can cut and heal: cut() drops every open connection and refuses
 * new ones, which is what a partition looks like to gRPC.
 */
export class LinkProxy {
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<Socket>();
  #cut = false;

  private constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = createServer((client) => this.#accept(client));
  }

  static async start(target: string): Promise<{ proxy: LinkProxy; address: string }> {
    const [host = "127.0.0.1", port = "0"] = target.split(":");
    const proxy = new LinkProxy({ host, port: Number(port) });
    await new Promise<void>((r) => proxy.#server.listen(0, "127.0.0.1", r));
    const a = proxy.#server.address();
    return { proxy, address: `127.0.0.1:${typeof a === "object" && a !== null ? a.port : 0}` };
  }

  get isCut(): boolean {
    return this.#cut;
  }

  cut(): void {
    this.#cut = true;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }

  heal(): void {
    this.#cut = false;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((r) => this.#server.close(() => r()));
  }

  #accept(client: Socket): void {
    if (this.#cut) {
      client.destroy();
      return;
    }
    const upstream = connect(this.#target.port, this.#target.host);
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        this.#sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

import { connect, type Socket } from "node:net";

export interface PoolOptions {
  readonly connectTimeoutMs: number;
  /** An idle keep-alive socket is closed after this (below the usual 5 s of Node and nginx upstreams). */
  readonly idleTimeoutMs: number;
  /** A socket is retired after this many requests. */
  readonly maxRequestsPerConnection: number;
  /** Sockets open at once per endpoint; more requests wait in order. */
  readonly maxSockets: number;
}

export const DEFAULT_POOL_OPTIONS: PoolOptions = {
  connectTimeoutMs: 1_000,
  idleTimeoutMs: 4_000,
  maxRequestsPerConnection: 10_000,
  maxSockets: 256,
};

/**
 * The pool's transport: opens a stream to the endpoint and names the event
 * that says it is ready to carry HTTP ("connect" for plain TCP,
 * "secureConnect" once a TLS handshake verified the peer).
 */
export type Connector = (host: string, port: number) => { socket: Socket; ready: "connect" | "secureConnect" };

export const plainConnector: Connector = (host, port) => ({
  socket: connect({ host, port, noDelay: true }),
  ready: "connect",
});

/** A socket of the pool, with what the pool needs to know about it. */
export interface PooledSocket {
  readonly socket: Socket;
  /** Requests sent on it so far (the current one included). */
  requests: number;
  /** It served a request before this one: a failure before any response byte may be a close race. */
  readonly reused: boolean;
}

export type Acquired = (err: NodeJS.ErrnoException | undefined, s: PooledSocket | undefined) => void;

class IdleSocket {
  readonly socket: Socket;
  requests: number;
  timer: NodeJS.Timeout | undefined;

  constructor(socket: Socket, requests: number) {
    this.socket = socket;
    this.requests = requests;
  }
}

/**
 * Raw keep-alive sockets to one endpoint. A socket goes back to the pool
 * only after a complete response to a completely sent request, and never
 * after an error; idle ones are closed after the idle timeout, and one that
 * the upstream closed while idle is dropped as soon as that is seen.
 */
export class EndpointPool {
  readonly #host: string;
  readonly #port: number;
  readonly #o: PoolOptions;
  readonly #idle: IdleSocket[] = [];
  readonly #waiting: Acquired[] = [];
  readonly #connector: Connector;
  #open = 0;
  #closed = false;

  constructor(host: string, port: number, o: PoolOptions, connector: Connector = plainConnector) {
    this.#host = host;
    this.#port = port;
    this.#o = o;
    this.#connector = connector;
  }

  get open(): number {
    return this.#open;
  }

  get idle(): number {
    return this.#idle.length;
  }

  /** A socket now (reused, or new when under the limit), or later when one is released. */
  acquire(cb: Acquired, fresh = false): void {
    if (this.#closed) {
      cb(Object.assign(new Error("endpoint removed"), { code: "ECONNREFUSED" }), undefined);
      return;
    }
    if (!fresh) {
      const idle = this.#idle.pop();
      if (idle !== undefined) {
        this.#wake(idle);
        cb(undefined, { socket: idle.socket, requests: idle.requests + 1, reused: true });
        return;
      }
    }
    if (this.#open < this.#o.maxSockets || fresh) {
      this.#connect(cb);
      return;
    }
    this.#waiting.push(cb);
  }

  /** Forgets a waiting acquire (its request ended first). */
  cancel(cb: Acquired): void {
    const i = this.#waiting.indexOf(cb);
    if (i >= 0) this.#waiting.splice(i, 1);
  }

  #connect(cb: Acquired): void {
    this.#open++;
    const { socket, ready } = this.#connector(this.#host, this.#port);
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      socket.destroy();
      cb(Object.assign(new Error("connect timeout"), { code: "UND_ERR_CONNECT_TIMEOUT" }), undefined);
    }, this.#o.connectTimeoutMs);
    socket.once("close", () => {
      this.#open--;
      this.#next();
    });
    socket.once(ready, () => {
      clearTimeout(timer);
      if (done) return;
      done = true;
      socket.removeListener("error", onError);
      cb(undefined, { socket, requests: 1, reused: false });
    });
    const onError = (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (done) return;
      done = true;
      cb(err, undefined);
    };
    socket.once("error", onError);
  }

  /** A socket the last exchange left clean (complete response, request fully written, no close asked). */
  release(s: PooledSocket): void {
    const socket = s.socket;
    if (this.#closed || s.requests >= this.#o.maxRequestsPerConnection || socket.destroyed || !socket.writable) {
      socket.destroy();
      return;
    }
    const waiter = this.#waiting.shift();
    if (waiter !== undefined) {
      waiter(undefined, { socket, requests: s.requests + 1, reused: true });
      return;
    }
    const idle = new IdleSocket(socket, s.requests);
    idle.timer = setTimeout(() => this.#expire(idle), this.#o.idleTimeoutMs);
    idle.timer.unref();
    // An idle socket that hears anything (data, end, error) from the upstream is no longer clean.
    socket.on("data", () => this.#expire(idle));
    socket.on("end", () => this.#expire(idle));
    socket.on("error", () => this.#expire(idle));
    socket.resume();
    this.#idle.push(idle);
  }

  /** Waking an idle socket: its idle listeners go, the exchange puts its own. */
  #wake(idle: IdleSocket): void {
    if (idle.timer !== undefined) clearTimeout(idle.timer);
    idle.socket.removeAllListeners("data");
    idle.socket.removeAllListeners("end");
    idle.socket.removeAllListeners("error");
  }

  #expire(idle: IdleSocket): void {
    const i = this.#idle.indexOf(idle);
    if (i >= 0) this.#idle.splice(i, 1);
    this.#wake(idle);
    idle.socket.destroy();
  }

  /** A slot opened (a socket closed): a waiting request connects. */
  #next(): void {
    if (this.#closed) return;
    const waiter = this.#waiting.shift();
    if (waiter !== undefined) this.acquire(waiter);
  }

  /** The endpoint left the config: idle sockets close now, busy ones after their exchange. */
  close(): void {
    this.#closed = true;
    for (const idle of this.#idle.splice(0)) {
      this.#wake(idle);
      idle.socket.destroy();
    }
    const refused = Object.assign(new Error("endpoint removed"), { code: "ECONNREFUSED" });
    for (const w of this.#waiting.splice(0)) w(refused, undefined);
  }
}

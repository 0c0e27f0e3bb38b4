import type { Socket } from "node:net";
import { type Connector, tcpConnector } from "./connect.ts";

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

/** Who hears a busy socket's events: the exchange using it now. */
export interface SocketOwner {
  upstreamData(b: Buffer): void;
  upstreamEnd(): void;
  upstreamError(err: NodeJS.ErrnoException): void;
  upstreamClose(): void;
}

export type Acquired = (err: NodeJS.ErrnoException | undefined, s: PooledSocket | undefined) => void;

/**
 * A socket of the pool. Its listeners are installed once, when it connects,
 * and hand each event to the exchange that owns it now, or, while it is
 * idle, expire it: a request costs no listener added or removed.
 */
export class PooledSocket {
  readonly socket: Socket;
  /** Requests sent on it so far (the current one included). */
  requests = 0;
  /** It served a request before this one: a failure before any response byte may be a close race. */
  reused = false;
  owner: SocketOwner | undefined;
  idle = false;
  /** The socket's one idle timer: refreshed at each release, a no-op when it fires on a busy socket. */
  timer: NodeJS.Timeout | undefined;
  readonly #pool: EndpointPool;
  /** The socket's listeners, installed once it connects (#listen). */
  readonly #onData = (b: Buffer) => {
    if (this.owner !== undefined) this.owner.upstreamData(b);
    else this.#pool.expire(this);
  };
  readonly #onEnd = () => {
    if (this.owner !== undefined) this.owner.upstreamEnd();
    else this.#pool.expire(this);
  };
  readonly #onError = (err: NodeJS.ErrnoException) => {
    if (this.owner !== undefined) this.owner.upstreamError(err);
    else this.#pool.expire(this);
  };

  constructor(socket: Socket, pool: EndpointPool) {
    this.socket = socket;
    this.#pool = pool;
  }

  /** Connected: from now on every event goes to the owner, or expires the idle socket. */
  listen(): void {
    this.socket.on("data", this.#onData);
    this.socket.on("end", this.#onEnd);
    this.socket.on("error", this.#onError);
  }

  onClose(): void {
    const owner = this.owner;
    this.owner = undefined;
    this.#pool.closed(this);
    owner?.upstreamClose();
  }

  /**
   * The socket leaves the pool for good (a WebSocket tunnel): its listeners go, the close is still counted.
   * removeListener, not removeAllListeners: the last `data` listener removed stops the flow, so bytes put
   * back with unshift() wait for the tunnel's pipe() (which resumes it) instead of being stranded in the buffer.
   */
  handOff(): void {
    this.owner = undefined;
    const s = this.socket;
    s.removeListener("data", this.#onData);
    s.removeListener("end", this.#onEnd);
    s.removeListener("error", this.#onError);
    if (this.timer !== undefined) clearTimeout(this.timer);
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
  readonly #idle: PooledSocket[] = [];
  readonly #waiting: Acquired[] = [];
  readonly #connector: Connector;
  #open = 0;
  #closed = false;

  constructor(host: string, port: number, o: PoolOptions, connector: Connector = tcpConnector) {
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
        this.#busy(idle);
        cb(undefined, idle);
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
    const conn = new PooledSocket(socket, this);
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      socket.destroy();
      cb(Object.assign(new Error("connect timeout"), { code: "UND_ERR_CONNECT_TIMEOUT" }), undefined);
    }, this.#o.connectTimeoutMs);
    const onConnectError = (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (done) return;
      done = true;
      cb(err, undefined);
    };
    socket.once("error", onConnectError);
    socket.on("close", () => conn.onClose());
    socket.once(ready, () => {
      clearTimeout(timer);
      if (done) return;
      done = true;
      socket.removeListener("error", onConnectError);
      conn.listen();
      conn.requests = 1;
      cb(undefined, conn);
    });
  }

  #busy(conn: PooledSocket): void {
    conn.idle = false;
    conn.requests++;
    conn.reused = true;
  }

  /** A socket the last exchange left clean (complete response, request fully written, no close asked). */
  release(conn: PooledSocket): void {
    conn.owner = undefined;
    const socket = conn.socket;
    if (this.#closed || conn.requests >= this.#o.maxRequestsPerConnection || socket.destroyed || !socket.writable) {
      socket.destroy();
      return;
    }
    const waiter = this.#waiting.shift();
    if (waiter !== undefined) {
      this.#busy(conn);
      waiter(undefined, conn);
      return;
    }
    conn.idle = true;
    if (conn.timer === undefined) {
      conn.timer = setTimeout(() => {
        if (conn.idle) this.expire(conn);
      }, this.#o.idleTimeoutMs);
      conn.timer.unref();
    } else conn.timer.refresh();
    // Flowing while idle: anything the upstream sends (data, end) means the socket is no longer clean.
    socket.resume();
    this.#idle.push(conn);
  }

  /** An idle socket heard from its upstream, or stayed idle too long: it is closed. */
  expire(conn: PooledSocket): void {
    this.#drop(conn);
    conn.socket.destroy();
  }

  #drop(conn: PooledSocket): void {
    if (!conn.idle) return;
    conn.idle = false;
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
  }

  /** A socket closed: it leaves the idle list, and its slot goes to a waiting request. */
  closed(conn: PooledSocket): void {
    this.#drop(conn);
    if (conn.timer !== undefined) clearTimeout(conn.timer);
    this.#open--;
    if (this.#closed) return;
    const waiter = this.#waiting.shift();
    if (waiter !== undefined) this.acquire(waiter);
  }

  /** The endpoint left the config: idle sockets close now, busy ones after their exchange. */
  close(): void {
    this.#closed = true;
    for (const conn of this.#idle.splice(0)) {
      conn.idle = false;
      conn.socket.destroy();
    }
    const refused = Object.assign(new Error("endpoint removed"), { code: "ECONNREFUSED" });
    for (const w of this.#waiting.splice(0)) w(refused, undefined);
  }
}

import { type ClientHttp2Session, connect as h2connect } from "node:http2";
import type { Connector } from "../connect.ts";
import { H2_WINDOW } from "./server.ts";

export interface H2PoolOptions {
  readonly connectTimeoutMs: number;
  /** A session with no stream for this long is closed. */
  readonly idleTimeoutMs: number;
  /** Sessions open at once per endpoint. */
  readonly maxSessions: number;
  /** Streams on a session before another session is opened (while under maxSessions). */
  readonly streamsPerSession: number;
}

export const DEFAULT_H2_POOL_OPTIONS: H2PoolOptions = {
  connectTimeoutMs: 1_000,
  idleTimeoutMs: 60_000,
  maxSessions: 4,
  streamsPerSession: 100,
};

export type SessionAcquired = (err: NodeJS.ErrnoException | undefined, s: PooledSession | undefined) => void;

/** One HTTP/2 session to an endpoint and the streams it carries now. */
export class PooledSession {
  readonly session: ClientHttp2Session;
  streams = 0;
  connected = false;
  waiting: SessionAcquired[] = [];

  constructor(session: ClientHttp2Session) {
    this.session = session;
  }

  get usable(): boolean {
    return !this.session.closed && !this.session.destroyed;
  }
}

/**
 * A few multiplexed HTTP/2 sessions to one endpoint (h2c). A stream goes on the session with the fewest
 * streams; another session opens only when every open one carries `streamsPerSession` (so one busy
 * connection's flow-control window and head-of-line losses do not hold every call), up to `maxSessions`,
 * past which streams share the least busy. A session that fails, says GOAWAY or idles out is dropped.
 */
export class H2EndpointPool {
  readonly #host: string;
  readonly #port: number;
  readonly #o: H2PoolOptions;
  readonly #connect: Connector;
  readonly #sessions: PooledSession[] = [];
  #closed = false;

  constructor(host: string, port: number, o: H2PoolOptions, connect: Connector) {
    this.#host = host;
    this.#port = port;
    this.#o = o;
    this.#connect = connect;
  }

  get open(): number {
    return this.#sessions.length;
  }

  acquire(cb: SessionAcquired): void {
    if (this.#closed) {
      cb(Object.assign(new Error("endpoint removed"), { code: "ECONNREFUSED" }), undefined);
      return;
    }
    let best: PooledSession | undefined;
    for (const s of this.#sessions) if (s.usable && (best === undefined || s.streams < best.streams)) best = s;
    if (
      best === undefined ||
      (best.streams >= this.#o.streamsPerSession && this.#sessions.length < this.#o.maxSessions)
    )
      best = this.#open();
    best.streams++;
    if (best.connected) cb(undefined, best);
    else best.waiting.push(cb);
  }

  /** A stream on `s` ended. */
  release(s: PooledSession): void {
    s.streams--;
  }

  /** Forgets a waiting acquire (its request ended first). */
  cancel(cb: SessionAcquired): void {
    for (const s of this.#sessions) {
      const i = s.waiting.indexOf(cb);
      if (i >= 0) {
        s.waiting.splice(i, 1);
        s.streams--;
      }
    }
  }

  #open(): PooledSession {
    const authority = `http://${this.#host.includes(":") ? `[${this.#host}]` : this.#host}:${this.#port}`;
    let failed: NodeJS.ErrnoException | undefined;
    const session = h2connect(authority, {
      settings: { enablePush: false, initialWindowSize: H2_WINDOW },
      // The session waits for the transport's own ready event (a TLS handshake, when one wraps it).
      createConnection: () => {
        const c = this.#connect(this.#host, this.#port);
        c.socket.once("error", (err: NodeJS.ErrnoException) => {
          failed ??= err;
        });
        return c.socket;
      },
    });
    const p = new PooledSession(session);
    this.#sessions.push(p);
    const timer = setTimeout(() => {
      failed = Object.assign(new Error("connect timeout"), { code: "UND_ERR_CONNECT_TIMEOUT" });
      session.destroy();
    }, this.#o.connectTimeoutMs);
    session.once("connect", () => {
      clearTimeout(timer);
      // The connect timeout may have destroyed it already ('connect' is emitted from a queued tick).
      if (session.destroyed) return;
      p.connected = true;
      session.setLocalWindowSize(H2_WINDOW);
      for (const w of p.waiting.splice(0)) w(undefined, p);
    });
    session.on("error", (err: NodeJS.ErrnoException) => {
      failed ??= err;
    });
    session.on("goaway", () => this.#drop(p));
    session.on("close", () => {
      clearTimeout(timer);
      this.#drop(p);
      const err = failed ?? Object.assign(new Error("session closed"), { code: "ECONNRESET" });
      // Streams that waited for an extra session that never came go on a connected one, if any is left.
      const other = this.#leastBusyConnected();
      for (const w of p.waiting.splice(0)) {
        if (other === undefined) {
          w(err, undefined);
          continue;
        }
        other.streams++;
        w(undefined, other);
      }
    });
    session.setTimeout(this.#o.idleTimeoutMs, () => {
      if (p.streams === 0) session.close();
    });
    return p;
  }

  #leastBusyConnected(): PooledSession | undefined {
    let best: PooledSession | undefined;
    for (const s of this.#sessions)
      if (s.usable && s.connected && (best === undefined || s.streams < best.streams)) best = s;
    return best;
  }

  #drop(p: PooledSession): void {
    const i = this.#sessions.indexOf(p);
    if (i >= 0) this.#sessions.splice(i, 1);
  }

  /** The endpoint left the config: no new stream; sessions close once their streams ended. */
  close(): void {
    this.#closed = true;
    for (const p of this.#sessions.splice(0)) p.session.close();
  }
}

import type { UpstreamEndpoint } from "../upstream/balancer.ts";
import { type Connector, tcpConnector } from "./connect.ts";
import { DEFAULT_H2_POOL_OPTIONS, H2EndpointPool, type H2PoolOptions } from "./h2/pool.ts";
import { EndpointPool, type PoolOptions } from "./pool.ts";

/** The transport to an endpoint, chosen when its pool is made (plain, or mTLS to a peer sidecar). */
export type ConnectorFor = (e: Pick<UpstreamEndpoint, "key">) => Connector | undefined;

/** One pool of raw keep-alive sockets per endpoint, and one of HTTP/2 sessions, each made at its first request. */
export class Upstreams {
  readonly #o: PoolOptions;
  readonly #h2o: H2PoolOptions;
  readonly #connect: Connector;
  readonly #pools = new Map<string, EndpointPool>();
  readonly #h2 = new Map<string, H2EndpointPool>();
  #connectorFor: ConnectorFor = () => undefined;

  constructor(o: PoolOptions, connect: Connector = tcpConnector) {
    this.#o = o;
    this.#connect = connect;
    this.#h2o = { ...DEFAULT_H2_POOL_OPTIONS, connectTimeoutMs: o.connectTimeoutMs };
  }

  /** A new transport plan (security modes, identity): every pool closes, new ones use the plan. */
  useTransports(connectorFor: ConnectorFor): void {
    this.#connectorFor = connectorFor;
    this.close();
  }

  /** How this endpoint is dialled under the current plan (health checks use it too). */
  transportFor(key: string): Connector {
    return this.#connectorFor({ key }) ?? this.#connect;
  }

  pool(e: UpstreamEndpoint): EndpointPool {
    let p = this.#pools.get(e.key);
    if (p === undefined) {
      p = new EndpointPool(e.address, e.port, this.#o, this.#connectorFor(e) ?? this.#connect);
      this.#pools.set(e.key, p);
    }
    return p;
  }

  h2(e: UpstreamEndpoint): H2EndpointPool {
    let p = this.#h2.get(e.key);
    if (p === undefined) {
      p = new H2EndpointPool(e.address, e.port, this.#h2o, this.#connectorFor(e) ?? this.#connect);
      this.#h2.set(e.key, p);
    }
    return p;
  }

  /** Pools of endpoints not in `kept` close: no new request, idle sockets now, busy ones after their exchange. */
  retain(kept: ReadonlySet<string>): void {
    for (const [key, pool] of this.#pools) {
      if (kept.has(key)) continue;
      this.#pools.delete(key);
      pool.close();
    }
    for (const [key, pool] of this.#h2) {
      if (kept.has(key)) continue;
      this.#h2.delete(key);
      pool.close();
    }
  }

  close(): void {
    for (const p of this.#pools.values()) p.close();
    this.#pools.clear();
    for (const p of this.#h2.values()) p.close();
    this.#h2.clear();
  }

  /** Sockets open to every endpoint (soak and leak checks): an HTTP/2 session is one. */
  get sockets(): number {
    let n = 0;
    for (const p of this.#pools.values()) n += p.open;
    for (const p of this.#h2.values()) n += p.open;
    return n;
  }
}

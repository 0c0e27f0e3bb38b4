import type { UpstreamEndpoint } from "../upstream/balancer.ts";
import { type Connector, EndpointPool, type PoolOptions } from "./pool.ts";

/** The transport to an endpoint, chosen when its pool is made (plain, or mTLS to a peer sidecar). */
export type ConnectorFor = (e: UpstreamEndpoint) => Connector | undefined;

/** One pool of raw keep-alive sockets per endpoint, made at its first request. */
export class Upstreams {
  readonly #o: PoolOptions;
  readonly #pools = new Map<string, EndpointPool>();
  #connectorFor: ConnectorFor = () => undefined;

  constructor(o: PoolOptions) {
    this.#o = o;
  }

  /** A new transport plan (security modes, identity): every pool closes, new ones use the plan. */
  useTransports(connectorFor: ConnectorFor): void {
    this.#connectorFor = connectorFor;
    this.close();
  }

  pool(e: UpstreamEndpoint): EndpointPool {
    let p = this.#pools.get(e.key);
    if (p === undefined) {
      p = new EndpointPool(e.address, e.port, this.#o, this.#connectorFor(e));
      this.#pools.set(e.key, p);
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
  }

  close(): void {
    for (const p of this.#pools.values()) p.close();
    this.#pools.clear();
  }

  /** Sockets open to every endpoint (soak and leak checks). */
  get sockets(): number {
    let n = 0;
    for (const p of this.#pools.values()) n += p.open;
    return n;
  }
}

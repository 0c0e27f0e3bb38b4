import { hash32 } from "../../common/hash.ts";
import { isPrime } from "../../common/prime.ts";
import type { ConsistentHash, Endpoint } from "../../config/resources.ts";

/** One upstream instance as the balancers see it. */
export interface UpstreamEndpoint {
  /** `address:port`: the key for pools, outlier detection and health checks. */
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Requests in flight, for leastRequest. */
  active: number;
}

export function toUpstream(e: Endpoint): UpstreamEndpoint {
  return {
    key: `${e.address}:${e.port}`,
    address: e.address,
    port: e.port,
    weight: e.weight,
    labels: e.labels ?? {},
    active: 0,
  };
}

/**
 * Picks one endpoint synchronously. `hash` is the request's hash key (only
 * consistent-hash balancers use it; without one they pick at random);
 * `usable` skips ejected or unhealthy endpoints.
 */
export interface Balancer {
  readonly endpoints: readonly UpstreamEndpoint[];
  pick(hash: number | undefined, usable: ((key: string) => boolean) | undefined): UpstreamEndpoint | undefined;
}

/**
 * Virtual nodes per unit of weight when the Service sets no ringSize. A fixed
 * count (not a share of a fixed ring) keeps every other endpoint's points in
 * place when one is added or removed, so only that endpoint's keys move.
 */
export const VNODES_PER_WEIGHT = 1024;
const MAX_RING_POINTS = 8_388_608;
export const DEFAULT_MAGLEV_TABLE = 65_537;

/** Walks from `start` to the first usable endpoint, or undefined when none is. */
function firstUsable(
  endpoints: readonly UpstreamEndpoint[],
  start: number,
  usable: ((key: string) => boolean) | undefined,
): UpstreamEndpoint | undefined {
  const n = endpoints.length;
  for (let i = 0; i < n; i++) {
    const e = endpoints[(start + i) % n];
    if (e !== undefined && (usable === undefined || usable(e.key))) return e;
  }
  return undefined;
}

/** Ring hash: virtual nodes in proportion to weight, binary search on a sorted ring. */
export class RingHashBalancer implements Balancer {
  readonly endpoints: readonly UpstreamEndpoint[];
  readonly #points: Uint32Array;
  readonly #owners: Uint32Array;

  /** `ringSize` (total points, shared by weight) when the Service sets it; else VNODES_PER_WEIGHT per unit of weight. */
  constructor(endpoints: readonly UpstreamEndpoint[], ringSize?: number) {
    this.endpoints = endpoints;
    const total = Math.max(
      1,
      endpoints.reduce((s, e) => s + e.weight, 0),
    );
    const perWeight = ringSize === undefined ? Math.min(VNODES_PER_WEIGHT, MAX_RING_POINTS / total) : ringSize / total;
    const entries: [number, number][] = [];
    endpoints.forEach((e, idx) => {
      const vnodes = Math.max(1, Math.round(perWeight * e.weight));
      for (let v = 0; v < vnodes; v++) entries.push([hash32(`${e.key}_${v}`), idx]);
    });
    entries.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    this.#points = Uint32Array.from(entries, (x) => x[0]);
    this.#owners = Uint32Array.from(entries, (x) => x[1]);
  }

  pick(hash: number | undefined, usable: ((key: string) => boolean) | undefined): UpstreamEndpoint | undefined {
    const points = this.#points;
    if (points.length === 0) return undefined;
    const h = hash ?? (Math.random() * 0x1_0000_0000) >>> 0;
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((points[mid] ?? 0) < h) lo = mid + 1;
      else hi = mid;
    }
    const start = lo === points.length ? 0 : lo;
    const owner = this.endpoints[this.#owners[start] ?? 0];
    if (owner !== undefined && (usable === undefined || usable(owner.key))) return owner;
    // Ejected owner: continue clockwise to the next usable owner, as Envoy does.
    for (let i = 1; i < points.length; i++) {
      const e = this.endpoints[this.#owners[(start + i) % points.length] ?? 0];
      if (e !== undefined && (usable === undefined || usable(e.key))) return e;
    }
    return undefined;
  }
}

/** Maglev (Eisenbud et al. 2016) with weights: an endpoint claims table slots in proportion to its weight. */
export class MaglevBalancer implements Balancer {
  readonly endpoints: readonly UpstreamEndpoint[];
  readonly #table: Uint32Array;

  constructor(endpoints: readonly UpstreamEndpoint[], tableSize = DEFAULT_MAGLEV_TABLE) {
    // A size that is not prime leaves slots no endpoint's permutation reaches: filling would never end.
    if (!isPrime(tableSize)) throw new RangeError(`maglev table size ${tableSize} is not a prime`);
    this.endpoints = endpoints;
    const m = tableSize;
    const table = new Uint32Array(m);
    this.#table = table;
    const n = endpoints.length;
    if (n === 0) return;
    table.fill(0xffffffff);
    const offset = endpoints.map((e) => hash32(e.key, 0x9e3779b1) % m);
    const skip = endpoints.map((e) => (hash32(e.key, 0x85ebca77) % (m - 1)) + 1);
    const next = new Uint32Array(n);
    const maxWeight = Math.max(...endpoints.map((e) => e.weight));
    const credit = new Float64Array(n);
    let filled = 0;
    while (filled < m) {
      for (let i = 0; i < n && filled < m; i++) {
        credit[i] = (credit[i] ?? 0) + (endpoints[i]?.weight ?? 1) / maxWeight;
        if ((credit[i] ?? 0) < 1) continue;
        credit[i] = (credit[i] ?? 0) - 1;
        let c = ((offset[i] ?? 0) + (next[i] ?? 0) * (skip[i] ?? 1)) % m;
        while (table[c] !== 0xffffffff) {
          next[i] = (next[i] ?? 0) + 1;
          c = ((offset[i] ?? 0) + (next[i] ?? 0) * (skip[i] ?? 1)) % m;
        }
        table[c] = i;
        next[i] = (next[i] ?? 0) + 1;
        filled++;
      }
    }
  }

  pick(hash: number | undefined, usable: ((key: string) => boolean) | undefined): UpstreamEndpoint | undefined {
    const m = this.#table.length;
    if (this.endpoints.length === 0) return undefined;
    const h = hash ?? (Math.random() * 0x1_0000_0000) >>> 0;
    const slot = h % m;
    const e = this.endpoints[this.#table[slot] ?? 0];
    if (e !== undefined && (usable === undefined || usable(e.key))) return e;
    // Ejected owner: probe the table onward so the remaining keys spread over the usable endpoints.
    for (let i = 1; i < m; i++) {
      const alt = this.endpoints[this.#table[(slot + i) % m] ?? 0];
      if (alt !== undefined && (usable === undefined || usable(alt.key))) return alt;
    }
    return undefined;
  }
}

/**
 * Smooth weighted round robin (nginx's): even interleaving, exact weight ratios per cycle. Only the usable
 * endpoints take part in a pick: each gains its weight, the chosen one gives back their total. An endpoint out
 * of the balancer (ejected, failing its health check) keeps the credit it had, so when it comes back it gets its
 * share from the next pick on. Letting it gain credit while out (and charging the others for it) sent it every
 * request until that credit was spent: after a 300-pick absence, 300 picks in a row.
 *
 * Ties go to the first endpoint from a random start, chosen when the balancer is built (each snapshot builds
 * it anew), as Envoy randomizes its first pick: otherwise every sidecar given the same endpoints at the same push
 * sent its first requests to the same endpoint.
 */
export class RoundRobinBalancer implements Balancer {
  readonly endpoints: readonly UpstreamEndpoint[];
  readonly #current: Float64Array;
  readonly #start: number;

  constructor(endpoints: readonly UpstreamEndpoint[], random: () => number = Math.random) {
    this.endpoints = endpoints;
    this.#current = new Float64Array(endpoints.length);
    this.#start = Math.floor(random() * endpoints.length);
  }

  pick(_hash: number | undefined, usable: ((key: string) => boolean) | undefined): UpstreamEndpoint | undefined {
    const eps = this.endpoints;
    const current = this.#current;
    let best = -1;
    let bestValue = Number.NEGATIVE_INFINITY;
    let total = 0;
    const n = eps.length;
    for (let j = 0, i = this.#start; j < n; j++, i = i + 1 === n ? 0 : i + 1) {
      const e = eps[i] as UpstreamEndpoint;
      if (usable !== undefined && !usable(e.key)) continue;
      const v = (current[i] ?? 0) + e.weight;
      current[i] = v;
      total += e.weight;
      if (v > bestValue) {
        best = i;
        bestValue = v;
      }
    }
    if (best < 0) return undefined;
    current[best] = bestValue - total;
    return eps[best];
  }
}

/** Least request, power of N choices: sample `choices` endpoints, take the one with fewest in flight. */
export class LeastRequestBalancer implements Balancer {
  readonly endpoints: readonly UpstreamEndpoint[];
  readonly #choices: number;

  constructor(endpoints: readonly UpstreamEndpoint[], choices = 2) {
    this.endpoints = endpoints;
    this.#choices = choices;
  }

  pick(_hash: number | undefined, usable: ((key: string) => boolean) | undefined): UpstreamEndpoint | undefined {
    const eps = this.endpoints;
    const n = eps.length;
    if (n === 0) return undefined;
    let best: UpstreamEndpoint | undefined;
    for (let c = 0; c < this.#choices; c++) {
      const e = eps[Math.floor(Math.random() * n)] as UpstreamEndpoint;
      if (usable !== undefined && !usable(e.key)) continue;
      if (best === undefined || e.active < best.active) best = e;
    }
    return best ?? firstUsable(eps, Math.floor(Math.random() * n), usable);
  }
}

export type BalancerSpec =
  | { roundRobin: Record<string, never> }
  | { leastRequest: { choiceCount: number } }
  | { consistentHash: ConsistentHash };

export function buildBalancer(spec: BalancerSpec, endpoints: readonly UpstreamEndpoint[]): Balancer {
  if ("roundRobin" in spec) return new RoundRobinBalancer(endpoints);
  if ("leastRequest" in spec) return new LeastRequestBalancer(endpoints, spec.leastRequest.choiceCount);
  const ch = spec.consistentHash;
  return ch.algorithm === "maglev"
    ? new MaglevBalancer(endpoints, ch.tableSize)
    : new RingHashBalancer(endpoints, ch.ringSize);
}

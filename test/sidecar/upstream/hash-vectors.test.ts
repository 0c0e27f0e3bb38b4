import assert from "node:assert/strict";
import { test } from "node:test";
import { hash32 } from "../../../src/common/hash.ts";
import {
  MaglevBalancer,
  RingHashBalancer,
  type UpstreamEndpoint,
  VNODES_PER_WEIGHT,
} from "../../../src/sidecar/upstream/balancer.ts";

/**
 * Fixed key -> endpoint vectors: two sidecar versions in one fleet must send
 * a key to the same endpoint, so any change to how the ring or the Maglev
 * table is built (hash, vnode names, ordering, tie-breaks, direction of the
 * search) fails here, not in production. Four endpoints, the last of weight 2.
 */
const ENDPOINTS: UpstreamEndpoint[] = [1, 2, 3, 4].map((i) => ({
  key: `10.0.0.${i}:8080`,
  address: `10.0.0.${i}`,
  port: 8080,
  weight: i === 4 ? 2 : 1,
  labels: {},
  active: 0,
}));

/** [key, ring hash endpoint, Maglev endpoint] (the last digit of the address). */
const VECTORS: [string, string, string][] = [
  ["user-0", "2", "4"],
  ["user-1", "4", "4"],
  ["user-2", "2", "3"],
  ["user-3", "4", "4"],
  ["user-4", "1", "3"],
  ["user-5", "2", "3"],
  ["user-6", "4", "4"],
  ["user-7", "4", "3"],
  ["user-8", "2", "4"],
  ["user-9", "3", "4"],
  ["user-10", "4", "4"],
  ["user-11", "4", "1"],
  ["user-12", "4", "3"],
  ["user-13", "2", "2"],
  ["user-14", "3", "1"],
  ["user-15", "4", "1"],
];

test("ring hash: fixed key -> endpoint vectors", () => {
  const ring = new RingHashBalancer(ENDPOINTS);
  for (const [key, want] of VECTORS) assert.equal(ring.pick(hash32(key), undefined)?.address, `10.0.0.${want}`, key);
});

test("maglev: fixed key -> endpoint vectors", () => {
  const maglev = new MaglevBalancer(ENDPOINTS);
  for (const [key, , want] of VECTORS)
    assert.equal(maglev.pick(hash32(key), undefined)?.address, `10.0.0.${want}`, key);
});

test("ring hash agrees with a brute-force reference: the owner of the first point at or after the key, wrapping", () => {
  const ring = new RingHashBalancer(ENDPOINTS);
  const points: [number, UpstreamEndpoint][] = [];
  for (const e of ENDPOINTS)
    for (let v = 0; v < VNODES_PER_WEIGHT * e.weight; v++) points.push([hash32(`${e.key}_${v}`), e]);
  for (let i = 0; i < 2_000; i++) {
    const h = hash32(`key-${i}`);
    let best: [number, UpstreamEndpoint] | undefined;
    let lowest: [number, UpstreamEndpoint] | undefined;
    for (const p of points) {
      if (p[0] >= h && (best === undefined || p[0] < best[0])) best = p;
      if (lowest === undefined || p[0] < lowest[0]) lowest = p;
    }
    const want = (best ?? lowest)?.[1];
    assert.equal(ring.pick(h, undefined)?.key, want?.key, `key-${i}`);
  }
});

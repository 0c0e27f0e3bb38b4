import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { hash32 } from "../../../src/common/hash.ts";
import {
  type Balancer,
  LeastRequestBalancer,
  MaglevBalancer,
  RingHashBalancer,
  RoundRobinBalancer,
  type UpstreamEndpoint,
} from "../../../src/sidecar/upstream/balancer.ts";

function endpoints(n: number, weight: (i: number) => number = () => 1): UpstreamEndpoint[] {
  return Array.from({ length: n }, (_, i) => ({
    key: `10.0.0.${i + 1}:8080`,
    address: `10.0.0.${i + 1}`,
    port: 8080,
    weight: weight(i),
    labels: {},
    active: 0,
  }));
}

const KEYS = Array.from({ length: 100_000 }, (_, i) => hash32(`user-${i}`));

function loads(b: Balancer): Map<string, number> {
  const out = new Map<string, number>();
  for (const k of KEYS) {
    const e = b.pick(k, undefined);
    assert.ok(e !== undefined);
    out.set(e.key, (out.get(e.key) ?? 0) + 1);
  }
  return out;
}

function maxOverMean(b: Balancer, n: number): number {
  const counts = [...loads(b).values()];
  assert.equal(counts.length, n);
  return Math.max(...counts) / (KEYS.length / n);
}

function moved(before: Balancer, after: Balancer): number {
  let n = 0;
  for (const k of KEYS) if (before.pick(k, undefined)?.key !== after.pick(k, undefined)?.key) n++;
  return n / KEYS.length;
}

describe("hash32 (XXH32)", () => {
  test("matches the reference test vectors", () => {
    assert.equal(hash32(""), 0x02cc5d05);
    assert.equal(hash32("a"), 0x550d7456);
    assert.equal(hash32("abc"), 0x32d153ff);
  });
});

describe("consistent hashing quality: 10 equal endpoints, 100,000 keys", () => {
  test("ring hash at default size: max/mean load <= 1.15", () => {
    const r = maxOverMean(new RingHashBalancer(endpoints(10)), 10);
    assert.ok(r <= 1.15, `max/mean ${r.toFixed(3)}`);
  });

  test("maglev at default table size: max/mean load <= 1.05", () => {
    const r = maxOverMean(new MaglevBalancer(endpoints(10)), 10);
    assert.ok(r <= 1.05, `max/mean ${r.toFixed(3)}`);
  });

  test("maglev refuses a table size that is not a prime instead of filling forever", () => {
    assert.throws(() => new MaglevBalancer(endpoints(3), 256), /256 is not a prime/);
    assert.ok(new MaglevBalancer(endpoints(3), 257).pick(12345, undefined) !== undefined);
  });

  for (const [name, make] of [
    ["ring hash", (e: UpstreamEndpoint[]) => new RingHashBalancer(e)],
    ["maglev", (e: UpstreamEndpoint[]) => new MaglevBalancer(e)],
  ] as const) {
    test(`${name}: removing or adding one of N moves <= 1.25/N of the keys`, () => {
      const all = endpoints(10);
      const full = make(all);
      const less = make(all.filter((_, i) => i !== 3));
      const removedShare = moved(full, less);
      assert.ok(removedShare <= 1.25 / 10, `removal moved ${removedShare.toFixed(4)}`);
      const more = make(endpoints(11));
      const addedShare = moved(full, more);
      assert.ok(addedShare <= 1.25 / 11, `addition moved ${addedShare.toFixed(4)}`);
    });
  }

  test("ring hash: removing an endpoint moves only that endpoint's keys", () => {
    const all = endpoints(10);
    const full = new RingHashBalancer(all);
    const less = new RingHashBalancer(all.filter((_, i) => i !== 3));
    for (const k of KEYS) {
      const before = full.pick(k, undefined)?.key;
      if (before !== all[3]?.key) assert.equal(less.pick(k, undefined)?.key, before);
    }
  });

  test("an ejected endpoint is skipped and only its keys move", () => {
    const all = endpoints(10);
    const ejected = all[5]?.key;
    for (const b of [new RingHashBalancer(all), new MaglevBalancer(all)]) {
      for (const k of KEYS.slice(0, 20_000)) {
        const first = b.pick(k, undefined)?.key;
        const picked = b.pick(k, (key) => key !== ejected)?.key;
        assert.notEqual(picked, ejected);
        if (first !== ejected) assert.equal(picked, first);
      }
      assert.equal(
        b.pick(1, () => false),
        undefined,
      );
    }
  });
});

describe("weights are honoured within 5 %", () => {
  const weights = (i: number) => [1, 2, 3, 4][i] ?? 1;
  const expectedShare = (i: number) => weights(i) / 10;

  function assertShares(b: Balancer, picks: () => Map<string, number>, total: number) {
    const counts = picks();
    b.endpoints.forEach((e, i) => {
      const share = (counts.get(e.key) ?? 0) / total;
      const rel = Math.abs(share - expectedShare(i)) / expectedShare(i);
      assert.ok(rel <= 0.05, `${e.key}: share ${share.toFixed(4)} vs ${expectedShare(i)}`);
    });
  }

  test("ring hash and maglev", () => {
    for (const b of [new RingHashBalancer(endpoints(4, weights)), new MaglevBalancer(endpoints(4, weights))]) {
      assertShares(b, () => loads(b), KEYS.length);
    }
  });

  test("weighted round robin: exact per cycle, interleaved", () => {
    const b = new RoundRobinBalancer(endpoints(4, weights));
    const seq: string[] = [];
    const picks = () => {
      const out = new Map<string, number>();
      for (let i = 0; i < 10_000; i++) {
        const k = b.pick(undefined, undefined)?.key ?? "";
        if (seq.length < 10) seq.push(k);
        out.set(k, (out.get(k) ?? 0) + 1);
      }
      return out;
    };
    assertShares(b, picks, 10_000);
    // Smooth WRR never sends the heaviest endpoint's whole share in a row.
    assert.ok(seq.slice(0, 4).some((k) => k !== b.endpoints[3]?.key));
  });
});

describe("round robin while the usable set changes", () => {
  /** Counts per endpoint over `n` picks with `usable`. */
  function counts(b: RoundRobinBalancer, n: number, usable?: (k: string) => boolean): number[] {
    const out = b.endpoints.map(() => 0);
    for (let i = 0; i < n; i++) {
      const at = b.endpoints.indexOf(b.pick(undefined, usable) as UpstreamEndpoint);
      out[at] = (out[at] ?? 0) + 1;
    }
    return out;
  }

  test("an endpoint back after an absence gets its share, not a burst of the credit it missed", () => {
    const eps = endpoints(3);
    const b = new RoundRobinBalancer(eps, () => 0.5);
    const out = eps[2]?.key;
    // 300 picks while the third is unusable (ejected, failing its health check): the other two share them.
    assert.deepEqual(
      counts(b, 300, (k) => k !== out),
      [150, 150, 0],
    );
    // Back: every window of 30 picks is within 10 % of even (9..11 each), from the first one on.
    for (let w = 0; w < 5; w++) {
      const c = counts(b, 30);
      for (const n of c) assert.ok(n >= 9 && n <= 11, `window ${w}: ${c}`);
    }
  });

  test("the usable endpoints keep exact weight ratios while another is out", () => {
    const b = new RoundRobinBalancer(
      endpoints(3, (i) => i + 1),
      () => 0.5,
    );
    const out = b.endpoints[0]?.key;
    // Weights 2 and 3 of the two left: 40 and 60 of 100, exactly.
    assert.deepEqual(
      counts(b, 100, (k) => k !== out),
      [0, 40, 60],
    );
    assert.deepEqual(counts(b, 60), [10, 20, 30]);
  });

  test("each build starts at a random endpoint, and the cycle stays exact from there", () => {
    const eps = endpoints(3);
    const firsts = [0, 0.34, 0.67, 0.99].map((r) => {
      const b = new RoundRobinBalancer(eps, () => r);
      const order = Array.from({ length: 6 }, () =>
        b.endpoints.indexOf(b.pick(undefined, undefined) as UpstreamEndpoint),
      );
      assert.deepEqual([...order.slice(0, 3)].sort(), [0, 1, 2], `one cycle visits each once: ${order}`);
      assert.deepEqual(order.slice(3), order.slice(0, 3), "and repeats");
      return order[0];
    });
    assert.deepEqual(firsts, [0, 1, 2, 2]);
    // Weights still hold exactly per cycle from any start.
    for (const r of [0, 0.5, 0.9]) {
      const b = new RoundRobinBalancer(
        endpoints(3, (i) => i + 1),
        () => r,
      );
      assert.deepEqual(counts(b, 60), [10, 20, 30]);
    }
  });

  test("no usable endpoint: nothing picked, and no credit kept for later", () => {
    const b = new RoundRobinBalancer(endpoints(3), () => 0);
    assert.deepEqual(counts(b, 0), [0, 0, 0]);
    for (let i = 0; i < 50; i++)
      assert.equal(
        b.pick(undefined, () => false),
        undefined,
      );
    assert.deepEqual(counts(b, 30), [10, 10, 10]);
  });
});

describe("least request (power of two choices)", () => {
  test("prefers the endpoint with fewer requests in flight", () => {
    const eps = endpoints(2);
    (eps[0] as UpstreamEndpoint).active = 100;
    const b = new LeastRequestBalancer(eps, 2);
    let toIdle = 0;
    for (let i = 0; i < 1000; i++) if (b.pick(undefined, undefined)?.key === eps[1]?.key) toIdle++;
    // Both samples land on the busy one with probability 1/4.
    assert.ok(toIdle > 650, `idle endpoint got ${toIdle}/1000`);
  });

  test("skips unusable endpoints", () => {
    const eps = endpoints(3);
    const b = new LeastRequestBalancer(eps, 2);
    for (let i = 0; i < 200; i++) assert.equal(b.pick(undefined, (k) => k === eps[2]?.key)?.key, eps[2]?.key);
  });
});

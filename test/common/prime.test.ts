import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isPrime } from "../../src/common/prime.ts";

describe("isPrime", () => {
  it("agrees with a sieve below 20,000", () => {
    const n = 20_000;
    const composite = new Uint8Array(n);
    for (let i = 2; i * i < n; i++) if (composite[i] === 0) for (let j = i * i; j < n; j += i) composite[j] = 1;
    for (let i = 0; i < n; i++) assert.equal(isPrime(i), i >= 2 && composite[i] === 0, String(i));
  });

  it("at maglev sizes: 65,537 and 5,000,011 are prime; 65,536 and the squares of primes near the limit are not", () => {
    assert.ok(isPrime(65_537) && isPrime(5_000_011) && isPrime(4_999_999));
    assert.ok(!isPrime(65_536) && !isPrime(2_237 * 2_237) && !isPrime(2_237 * 2_239) && !isPrime(1.5));
  });
});

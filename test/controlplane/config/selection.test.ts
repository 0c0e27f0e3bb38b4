import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { bucketOf, selects } from "../../../src/controlplane/config/selection.ts";

const instanceId = fc.stringMatching(/^[A-Za-z0-9._:-]{1,40}$/);
const key = fc.stringMatching(/^[A-Za-z0-9._/-]{1,40}$/);

test("percent: an instance in the canary at P % stays in at every larger percentage", () => {
  fc.assert(
    fc.property(
      key,
      fc.uniqueArray(instanceId, { minLength: 1, maxLength: 50 }),
      // Every 0.01 % step, the finest a percentage resolves to.
      fc.integer({ min: 0, max: 10_000 }).map((x) => x / 100),
      fc.integer({ min: 0, max: 10_000 }).map((x) => x / 100),
      (k, ids, a, b) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        for (const instance of ids) {
          const who = { instance, labels: {} };
          if (selects({ percent: low }, k, who))
            assert.ok(selects({ percent: high }, k, who), `${instance} left at ${high}%`);
        }
      },
    ),
    { numRuns: 500 },
  );
});

test("percent: 0 % selects nobody, 100 % everybody, and 10 % of 10,000 instances is close to 1,000", () => {
  const ids = Array.from({ length: 10_000 }, (_, i) => `app-${i}`);
  const count = (p: number) =>
    ids.filter((instance) => selects({ percent: p }, "app/flag", { instance, labels: {} })).length;
  assert.equal(count(0), 0);
  assert.equal(count(100), ids.length);
  const ten = count(10);
  // Binomial(10000, 0.1): sd 30, so ±150 is five sd.
  assert.ok(Math.abs(ten - 1_000) < 150, `10% selected ${ten}`);
  // Another key picks other instances: not the same canaries for every key.
  const other = ids.filter((instance) => selects({ percent: 10 }, "app/other", { instance, labels: {} }));
  const both = other.filter((instance) => selects({ percent: 10 }, "app/flag", { instance, labels: {} })).length;
  assert.ok(both < 200, `${both} instances are canaries of both keys`);
  assert.ok(bucketOf("k", "i") >= 0 && bucketOf("k", "i") < 10_000);
});

test("labels select instances with every label; instances select by id", () => {
  const v2 = { instance: "a", labels: { version: "v2", zone: "z1" } };
  const v1 = { instance: "b", labels: { version: "v1" } };
  assert.ok(selects({ labels: { version: "v2" } }, "k", v2));
  assert.ok(!selects({ labels: { version: "v2" } }, "k", v1));
  assert.ok(!selects({ labels: { version: "v2", zone: "z2" } }, "k", v2));
  assert.ok(selects({ instances: ["b", "c"] }, "k", v1));
  assert.ok(!selects({ instances: ["c"] }, "k", v1));
});

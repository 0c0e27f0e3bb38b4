import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock } from "../../../src/common/clock.ts";
import { type AppConfigChange, AppConfigStore, type ConfigUpdateLike } from "../../../src/sidecar/app-config/store.ts";

function update(revision: number, entries: [string, string, number, string?][], more: Partial<ConfigUpdateLike> = {}) {
  return {
    revision,
    full: false,
    entries: entries.map(([key, value, rev, release]) => ({
      key,
      value: Buffer.from(value),
      revision: rev,
      release: release ?? "base",
    })),
    removed: [],
    keys: ["app/flag", "app/other"],
    prefixes: [],
    ...more,
  };
}

test("a key's revision only grows: leaving a release for an older base value takes the update's revision", () => {
  const store = new AppConfigStore();
  const seen: AppConfigChange[] = [];
  store.subscribe("app/flag", (c) => seen.push(c));
  store.apply(update(10, [["app/flag", "off", 10]], { full: true }));
  store.apply(update(20, [["app/flag", "on", 20, "canary"]]));
  // Rolled back at 30: the base value is still the one written at 10.
  store.apply(update(31, [["app/flag", "off", 10]]));
  // The same value from the same source again (a rewrite): no change at all.
  store.apply(update(40, [["app/flag", "off", 35]]));
  // Promoted: the value is the release's, now the base, at 50.
  store.apply(update(50, [["app/flag", "on", 50]]));
  assert.deepEqual(
    seen.map((c) => `${c.entry?.value.toString()}/${c.entry?.release}@${c.revision}`),
    ["off/base@10", "on/canary@20", "off/base@31", "on/base@50"],
  );
  assert.equal(store.get("app/flag")?.revision, 50);
});

test("a full update forgets what it does not carry; a key that comes back keeps growing; an older update is refused", () => {
  const store = new AppConfigStore();
  store.apply(
    update(
      10,
      [
        ["app/flag", "a", 10],
        ["app/other", "b", 9],
      ],
      { full: true },
    ),
  );
  const changes = store.apply(update(20, [["app/flag", "a", 10]], { full: true }));
  assert.deepEqual(
    changes.map((c) => [c.key, c.entry === undefined, c.revision]),
    [["app/other", true, 20]],
  );
  // Declared again with the value written at 9: its revision may not go back below the removal.
  const back = store.apply(update(30, [["app/other", "b", 9]]));
  assert.equal(back[0]?.revision, 30);
  assert.deepEqual(store.apply(update(25, [["app/flag", "z", 25]])), []);
  assert.equal(store.get("app/flag")?.value.toString(), "a");
  assert.equal(store.revision, 30);
});

test("staleness: none while connected; from the moment the stream went down, or from the kept state's time", () => {
  const clock = new FakeClock(1_000_000);
  const store = new AppConfigStore(clock);
  assert.equal(store.staleSeconds(), undefined);
  store.setConnected(true);
  store.apply(update(5, [["app/flag", "x", 5]], { full: true }));
  clock.advance(60_000);
  assert.equal(store.staleSeconds(), undefined);
  store.setConnected(false);
  clock.advance(42_500);
  assert.equal(store.staleSeconds(), 42);
  const kept = store.toStored();
  const restarted = new AppConfigStore(clock);
  restarted.restore(kept);
  clock.advance(10_000);
  assert.equal(restarted.staleSeconds(), 52);
  assert.equal(restarted.get("app/flag")?.value.toString(), "x");
  assert.equal(restarted.revision, 5);
});

test("a reset (another history) replaces everything, revisions start over, and what it lacks is deleted", () => {
  const store = new AppConfigStore();
  store.apply(
    update(
      900,
      [
        ["app/flag", "a", 900],
        ["app/other", "b", 800],
      ],
      { full: true },
    ),
  );
  const changes = store.apply(update(12, [["app/flag", "a", 10]], { full: true, reset: true }));
  assert.deepEqual(
    changes.map((c) => [c.key, c.entry?.value.toString() ?? null, c.revision]),
    [
      ["app/flag", "a", 10],
      ["app/other", null, 12],
    ],
  );
  assert.equal(store.revision, 12);
  // And from there on, forward again.
  assert.deepEqual(store.apply(update(11, [["app/flag", "z", 11]])), []);
});

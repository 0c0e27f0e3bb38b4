import assert from "node:assert/strict";
import { test } from "node:test";
import { errorCode } from "../../../src/common/errors.ts";
import { parseResources } from "../../../src/config/load.ts";
import { CONFIG_PREFIX } from "../../../src/controlplane/config/commands.ts";
import {
  HISTORY_ENTRIES,
  HISTORY_VALUES,
  HISTORY_VALUES_PREFIX,
  historyKey,
  historyValueKey,
  keptValueRevisions,
  parseHistory,
} from "../../../src/controlplane/config/history.ts";
import { RELEASE_INDEX_PREFIX } from "../../../src/controlplane/config/release-index.ts";
import { storedText } from "../../../src/controlplane/state/value.ts";
import { Rng } from "../../sim/rng.ts";
import type { SingleNode } from "../discovery/single-node.ts";
import { configNode, releaseYaml } from "./config-node.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const BASE_KEY = `${CONFIG_PREFIX}app/k`;

/** A stored value as text ("" when absent). */
function text(node: SingleNode, key: string): string {
  const r = node.kv.get(key);
  return r === undefined ? "" : storedText(r.value);
}

function historyOf(node: SingleNode, key: string) {
  return parseHistory(node.kv.get(historyKey(key)) === undefined ? undefined : text(node, historyKey(key)));
}

async function run(node: SingleNode, command: Record<string, unknown>): Promise<{ revision: number; code?: string }> {
  try {
    const { revision } = await node.propose(command as { type: string });
    return { revision };
  } catch (err) {
    return { revision: 0, code: errorCode(err) };
  }
}

const put = (node: SingleNode, key: string, value: string) =>
  run(node, { type: "config.put", key, value: b64(value), at: 1_700_000_000_000 });
const release = (node: SingleNode, name: string, key: string, value: string, selector = "{percent: 10}") =>
  run(node, { type: "mesh.apply", resources: parseResources(releaseYaml(name, key, value, selector), "t") });

/** Everything in the store, as text: a refused command must leave it exactly as it was. */
function dump(node: SingleNode): string {
  const out: string[] = [];
  node.kv.forEachRecord((k, r) => out.push(`${k}@${r.revision}=${storedText(r.value)}`));
  return out.sort().join("\n");
}

test("a random life of one key: the kept values are exactly the newest replaced ones, and rollback --to restores what the key held then", async () => {
  const outcomes = { restored: 0, compacted: 0 };
  for (let seed = 1; seed <= 12; seed++) {
    const rng = new Rng(seed);
    const node = configNode();
    // The model: which value each value-setting revision set.
    const setAt = new Map<number, string>();
    let base: string | undefined;
    let active: string | undefined;
    for (let step = 0; step < 150; step++) {
      const roll = rng.intn(10);
      if (roll < 4 || base === undefined) {
        const v = `v${step}`;
        const r = await put(node, "app/k", v);
        setAt.set(r.revision, v);
        base = v;
      } else if (roll === 4 && active === undefined) {
        const r = await run(node, { type: "config.delete", key: "app/k" });
        assert.equal(r.code, undefined, `seed ${seed} step ${step}`);
        base = undefined;
      } else if (roll === 5 && active === undefined) {
        active = `canary-${step}`;
        assert.equal((await release(node, active, "app/k", `r${step}`)).code, undefined);
      } else if (roll === 6 && active !== undefined) {
        const r = await run(node, { type: "config.promote", key: "app/k" });
        setAt.set(r.revision, `r${active.slice("canary-".length)}`);
        base = setAt.get(r.revision);
        active = undefined;
      } else if (roll === 7 && active !== undefined) {
        assert.equal((await run(node, { type: "config.rollback", key: "app/k" })).code, undefined);
        active = undefined;
      } else if (active === undefined) {
        // rollback --to any revision the model knows: restored exactly when the history says it is kept.
        const revisions = [...setAt.keys()];
        const to = revisions[rng.intn(revisions.length)] ?? 0;
        const entries = historyOf(node, "app/k");
        const current = node.kv.get(BASE_KEY)?.revision;
        const restorable = current === to || keptValueRevisions(entries, current).has(to);
        const before = dump(node);
        const r = await run(node, { type: "config.rollback", key: "app/k", to });
        if (restorable) {
          assert.equal(r.code, undefined, `seed ${seed} step ${step}: rollback --to ${to}`);
          outcomes.restored++;
          base = setAt.get(to);
          setAt.set(r.revision, base ?? "");
        } else {
          assert.equal(r.code, "ERR_COMPACTED", `seed ${seed}: ${r.code}`);
          outcomes.compacted++;
          assert.equal(dump(node), before, "a refused rollback changes nothing");
        }
      }
      // Invariants after every step.
      const current = node.kv.get(BASE_KEY);
      assert.equal(current === undefined ? undefined : storedText(current.value), base, `seed ${seed} step ${step}`);
      const entries = historyOf(node, "app/k");
      assert.ok(entries.length <= HISTORY_ENTRIES);
      const kept = keptValueRevisions(entries, current?.revision);
      const stored = node.kv.range(HISTORY_VALUES_PREFIX).map((e) => Number(e.key.slice(e.key.lastIndexOf("@") + 1)));
      assert.deepEqual(new Set(stored), kept, `seed ${seed} step ${step}: stored values`);
      assert.ok(stored.length <= HISTORY_VALUES);
      for (const r of stored) {
        assert.equal(text(node, historyValueKey("app/k", r)), setAt.get(r));
      }
    }
  }
  // Both answers were exercised, many times.
  assert.ok(outcomes.restored > 20 && outcomes.compacted > 20, JSON.stringify(outcomes));
});

test("promote makes the release the base value and removes it; rollback withdraws it; both are in the history", async () => {
  const node = configNode();
  await put(node, "app/flag", "off");
  const rel = await release(node, "flag-canary", "app/flag", "on", "{labels: {version: v2}}");
  assert.equal(rel.code, undefined);
  assert.equal(text(node, `${RELEASE_INDEX_PREFIX}app/flag`), "flag-canary");
  const promoted = await run(node, { type: "config.promote", key: "app/flag", at: 5 });
  assert.equal(text(node, "config/app/flag"), "on");
  assert.equal(node.kv.get("config/app/flag")?.revision, promoted.revision);
  assert.equal(node.kv.get("mesh/resources/ConfigRelease/flag-canary"), undefined);
  assert.equal(node.kv.get(`${RELEASE_INDEX_PREFIX}app/flag`), undefined);
  assert.equal((await run(node, { type: "config.promote", key: "app/flag" })).code, "ERR_NO_RELEASE");
  await release(node, "second", "app/flag", "maybe");
  assert.equal((await run(node, { type: "config.rollback", key: "app/flag" })).code, undefined);
  assert.equal(text(node, "config/app/flag"), "on");
  assert.equal((await run(node, { type: "config.rollback", key: "app/flag" })).code, "ERR_NO_RELEASE");
  const actions = historyOf(node, "app/flag").map(
    (e) =>
      `${e.action}${e.release === undefined ? "" : `:${e.release}`}${e.selector === undefined ? "" : `:${e.selector}`}`,
  );
  assert.deepEqual(actions, [
    "put",
    "release:flag-canary:version=v2",
    "promote:flag-canary",
    "release:second:10%",
    "rollback:second",
  ]);
  const promoteEntry = historyOf(node, "app/flag")[2];
  assert.equal(promoteEntry?.at, 5);
  assert.equal(promoteEntry?.by, null);
});

test("refusals change nothing: a release for a missing key, a second release on a key, a delete or rollback --to under a release", async () => {
  const node = configNode();
  await put(node, "app/a", "1");
  await put(node, "app/b", "1");
  assert.equal((await release(node, "one", "app/a", "2")).code, undefined);
  const cases: [string, Record<string, unknown>, string][] = [
    [
      "release of a key that does not exist",
      { type: "mesh.apply", resources: parseResources(releaseYaml("x", "app/none", "v", "{percent: 5}"), "t") },
      "ERR_NOT_FOUND",
    ],
    [
      "a second release on the same key",
      { type: "mesh.apply", resources: parseResources(releaseYaml("two", "app/a", "3", "{percent: 5}"), "t") },
      "ERR_RELEASE_EXISTS",
    ],
    [
      "two releases of one key in one apply (the first alone would pass)",
      {
        type: "mesh.apply",
        resources: parseResources(
          `${releaseYaml("b1", "app/b", "x", "{percent: 5}")}---\n${releaseYaml("b2", "app/b", "y", "{percent: 5}")}`,
          "t",
        ),
      },
      "ERR_RELEASE_EXISTS",
    ],
    ["delete of a key under a release", { type: "config.delete", key: "app/a" }, "ERR_RELEASE_ACTIVE"],
    ["rollback --to under a release", { type: "config.rollback", key: "app/a", to: 1 }, "ERR_RELEASE_ACTIVE"],
    ["rollback --to a revision the key never had", { type: "config.rollback", key: "app/b", to: 999 }, "ERR_NOT_FOUND"],
    ["promote without a release", { type: "config.promote", key: "app/b" }, "ERR_NO_RELEASE"],
    ["rollback without a release", { type: "config.rollback", key: "app/b" }, "ERR_NO_RELEASE"],
  ];
  for (const [what, command, code] of cases) {
    const before = dump(node);
    const r = await run(node, command);
    assert.equal(r.code, code, what);
    assert.equal(dump(node), before, `${what}: nothing changed`);
  }
});

test("a release rewritten for another key moves the index; deleting the resource withdraws it", async () => {
  const node = configNode();
  await put(node, "app/a", "1");
  await put(node, "app/b", "1");
  await release(node, "mover", "app/a", "2");
  assert.equal((await release(node, "mover", "app/b", "2")).code, undefined);
  assert.equal(node.kv.get(`${RELEASE_INDEX_PREFIX}app/a`), undefined);
  assert.equal(text(node, `${RELEASE_INDEX_PREFIX}app/b`), "mover");
  // app/a is free again.
  assert.equal((await release(node, "other", "app/a", "3")).code, undefined);
  const del = await run(node, { type: "mesh.resource.delete", kind: "ConfigRelease", name: "mover" });
  assert.equal(del.code, undefined);
  assert.equal(node.kv.get(`${RELEASE_INDEX_PREFIX}app/b`), undefined);
  const last = historyOf(node, "app/b").at(-1);
  assert.deepEqual([last?.action, last?.release], ["rollback", "mover"]);
});

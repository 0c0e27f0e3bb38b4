import assert from "node:assert/strict";
import { test } from "node:test";
import { parseResources } from "../../../src/config/load.ts";
import { ConfigFeed } from "../../../src/controlplane/config/feed.ts";
import { ConfigDelivery } from "../../../src/controlplane/discovery/config-delivery.ts";
import { storedText } from "../../../src/controlplane/state/value.ts";
import type { SingleNode } from "../discovery/single-node.ts";
import { configNode, releaseYaml, serviceYaml } from "./config-node.ts";

const put = (node: SingleNode, key: string, value: string) =>
  node.propose({ type: "config.put", key, value: Buffer.from(value).toString("base64") });
const apply = (node: SingleNode, yaml: string) =>
  node.propose({ type: "mesh.apply", resources: parseResources(yaml, "t") });

function setup() {
  const node = configNode();
  const feed = new ConfigFeed(node.kv, (l) => node.on("applied", l));
  return { node, feed };
}

const shown = (entries: ReadonlyMap<string, { value: string; release: string }>) =>
  Object.fromEntries([...entries].map(([k, e]) => [k, `${storedText(e.value as never)}/${e.release}`]));

test("a view holds the declared keys and prefixes, each instance's release value where a release selects it", async () => {
  const { node, feed } = setup();
  await put(node, "app/flag", "off");
  await put(node, "app/shop/a", "1");
  await put(node, "app/shop/b", "2");
  await put(node, "app/shopping", "not under app/shop/");
  await put(node, "other/x", "undeclared");
  await apply(node, serviceYaml("web", "{keys: [app/flag, app/missing], prefixes: [app/shop/]}"));
  await apply(node, releaseYaml("flag-v2", "app/flag", "on", "{labels: {version: v2}}"));
  const v1 = feed.view({ service: "web", instance: "w1", labels: { version: "v1" } });
  const v2 = feed.view({ service: "web", instance: "w2", labels: { version: "v2" } });
  assert.deepEqual(shown(v1.entries), { "app/flag": "off/base", "app/shop/a": "1/base", "app/shop/b": "2/base" });
  assert.deepEqual(shown(v2.entries), { "app/flag": "on/flag-v2", "app/shop/a": "1/base", "app/shop/b": "2/base" });
  assert.deepEqual(v1.keys, ["app/flag", "app/missing"]);
  assert.deepEqual(feed.view({ service: "nobody", instance: "x", labels: {} }).entries.size, 0);
  feed.close();
});

test("listeners hear of config changes once per applied entry, not of Service writes that change no declaration", async () => {
  const { node, feed } = setup();
  let heard = 0;
  feed.onChange(() => heard++);
  await apply(node, serviceYaml("web", "{keys: [k]}"));
  assert.equal(heard, 1);
  await put(node, "k", "1");
  assert.equal(heard, 2);
  await apply(
    node,
    `apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 8080}], config: {keys: [k]}}\n`,
  );
  assert.equal(heard, 2);
  await apply(
    node,
    `apiVersion: meshlet.dev/v1\nkind: Route\nmetadata: {name: r}\nspec: {hosts: [web], http: [{destinations: [{service: web}]}]}\n`,
  );
  assert.equal(heard, 2);
  feed.close();
});

test("delivery: full first, then only what changed for this instance; a sidecar ahead of the node waits for it", async () => {
  const { node, feed } = setup();
  await apply(node, serviceYaml("web", "{keys: [a, b]}"));
  await put(node, "a", "1");
  await put(node, "b", "1");
  let woken = 0;
  const who = { service: "web", instance: "w1", labels: {} };
  const d = new ConfigDelivery(feed, who, 0, () => woken++);
  const first = d.next();
  assert.equal(first?.full, true);
  assert.deepEqual(first?.entries?.map((e) => e.key).sort(), ["a", "b"]);
  assert.equal(d.next(), undefined, "nothing changed");
  await put(node, "a", "1");
  assert.equal(d.next(), undefined, "the same value again is no change");
  await put(node, "a", "2");
  const second = d.next();
  assert.equal(second?.full, false);
  assert.deepEqual(
    second?.entries?.map((e) => [e.key, String(e.value)]),
    [["a", "2"]],
  );
  await node.propose({ type: "config.delete", key: "b" });
  assert.deepEqual(d.next()?.removed, ["b"]);
  await apply(node, serviceYaml("web", "{keys: [a, c]}"));
  const decl = d.next();
  assert.deepEqual(decl?.keys, ["a", "c"]);
  assert.deepEqual(decl?.entries, []);
  // A sidecar that held revision R from another node gets nothing here before this node applied R.
  const ahead = new ConfigDelivery(feed, who, node.kv.revision + 2, () => woken++);
  assert.equal(ahead.next(), undefined);
  assert.equal(woken, 0);
  await put(node, "x", "1");
  assert.equal(woken, 0);
  await put(node, "x", "2");
  assert.equal(woken, 1);
  assert.equal(ahead.next()?.full, true);
  feed.close();
});

test("a sidecar holding a revision this cluster never reached (its data was replaced) gets a full update that resets it", async () => {
  const node = configNode();
  // The node's applied revision after a linearizable read: here, everything it has.
  const feed = new ConfigFeed(
    node.kv,
    (l) => node.on("applied", l),
    async () => node.kv.revision,
  );
  await apply(node, serviceYaml("web", "{keys: [a]}"));
  await put(node, "a", "1");
  let woken = 0;
  const d = new ConfigDelivery(feed, { service: "web", instance: "w1", labels: {} }, 1_000, () => woken++);
  assert.equal(d.next(), undefined);
  await new Promise((r) => setImmediate(r));
  assert.equal(woken, 1);
  const update = d.next();
  assert.equal(update?.full, true);
  assert.equal(update?.reset, true);
  assert.deepEqual(
    update?.entries?.map((e) => e.key),
    ["a"],
  );
  // A node merely behind is not another history: it waits (the confirmed revision is the sidecar's).
  const behind = new ConfigFeed(
    node.kv,
    (l) => node.on("applied", l),
    async () => 5_000,
  );
  const waits = new ConfigDelivery(behind, { service: "web", instance: "w2", labels: {} }, 1_000, () => woken++);
  assert.equal(waits.next(), undefined);
  await new Promise((r) => setImmediate(r));
  assert.equal(woken, 1);
  feed.close();
  behind.close();
});

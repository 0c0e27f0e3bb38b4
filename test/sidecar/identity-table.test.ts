import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseResources } from "../../src/config/load.ts";
import { IdentityTable, MeshIdentities, serviceAccountsOf } from "../../src/sidecar/identity-table.ts";

const TD = "spiffe://cluster.local";
const SERVICES = [
  {
    name: "web",
    serviceAccounts: [
      { namespace: "shop", name: "web-sa" },
      { namespace: "shop", name: "shared" },
    ],
  },
  // Listed twice by one Service: still one owner.
  {
    name: "admin",
    serviceAccounts: [
      { namespace: "shop", name: "shared" },
      { namespace: "shop", name: "shared" },
    ],
  },
  { name: "ratings" },
];

describe("IdentityTable", () => {
  const table = new IdentityTable(SERVICES, "cluster.local");
  const owners: [string, string, readonly string[]][] = [
    ["/service/ of a Service", `${TD}/service/web`, ["web"]],
    ["/service/ of a Service that lists accounts (an earlier certificate)", `${TD}/service/admin`, ["admin"]],
    ["/service/ of a name with no Service resource (the CA signs it all the same)", `${TD}/service/cart`, ["cart"]],
    ["an account one Service lists", `${TD}/ns/shop/sa/web-sa`, ["web"]],
    ["an account two Services list: both, sorted", `${TD}/ns/shop/sa/shared`, ["admin", "web"]],
    ["an account no Service lists", `${TD}/ns/shop/sa/nobody`, []],
    ["the account name in another namespace", `${TD}/ns/other/sa/web-sa`, []],
    ["another trust domain", "spiffe://other.td/service/web", []],
    ["another trust domain's account", "spiffe://other.td/ns/shop/sa/web-sa", []],
    ["/service/ with more segments", `${TD}/service/web/x`, []],
    ["/service/ with no name", `${TD}/service/`, []],
    ["another form", `${TD}/workload/web`, []],
    ["a trust domain that only starts like ours", "spiffe://cluster.local.evil/service/web", []],
  ];
  for (const [why, id, want] of owners) it(`ownerOf: ${why}`, () => assert.deepEqual(table.ownerOf(id), want));

  const ids: [string, string, string[]][] = [
    ["a Service with accounts", "web", [`${TD}/service/web`, `${TD}/ns/shop/sa/web-sa`, `${TD}/ns/shop/sa/shared`]],
    ["a Service without", "ratings", [`${TD}/service/ratings`]],
    ["a name with no Service resource", "cart", [`${TD}/service/cart`]],
  ];
  for (const [why, service, want] of ids)
    it(`idsOf: ${why}`, () => assert.deepEqual([...table.idsOf(service)].sort(), want.sort()));

  it("without a trust domain (no certificate yet) knows no identity", () => {
    const none = new IdentityTable(SERVICES, undefined);
    assert.deepEqual(none.ownerOf(`${TD}/service/web`), []);
    assert.equal(none.idsOf("web").size, 0);
  });

  it("answers the same owners object each time (no allocation per request)", () => {
    assert.equal(table.ownerOf(`${TD}/service/cart`), table.ownerOf(`${TD}/service/cart`));
    assert.equal(table.ownerOf(`${TD}/ns/shop/sa/shared`), table.ownerOf(`${TD}/ns/shop/sa/shared`));
  });
});

describe("MeshIdentities", () => {
  it("rebuilds the table only when the Services' accounts or the trust domain change", () => {
    const m = new MeshIdentities();
    m.useServices(SERVICES);
    const before = m.table;
    assert.deepEqual(before.ownerOf(`${TD}/service/web`), [], "no trust domain yet");
    m.useTrustDomain("cluster.local");
    const withTd = m.table;
    assert.notEqual(withTd, before);
    assert.deepEqual(withTd.ownerOf(`${TD}/ns/shop/sa/web-sa`), ["web"]);
    m.useServices([...SERVICES].reverse());
    m.useTrustDomain("cluster.local");
    assert.equal(m.table, withTd, "same Services and accounts in another order, same trust domain: same table");
    m.useServices([{ name: "web" }, { name: "cart", serviceAccounts: [{ namespace: "shop", name: "web-sa" }] }]);
    assert.deepEqual(m.table.ownerOf(`${TD}/ns/shop/sa/web-sa`), ["cart"]);
  });

  it("reads a snapshot's Service resources", () => {
    const resources = parseResources(
      "apiVersion: meshlet.dev/v1\nkind: Service\nmetadata: {name: web}\nspec:\n  serviceAccounts: [{namespace: shop, name: web-sa}]\n---\napiVersion: meshlet.dev/v1\nkind: Route\nmetadata: {name: r}\nspec: {hosts: [web], http: [{destinations: [{service: web}]}]}\n",
      "mesh.yaml",
    );
    assert.deepEqual(serviceAccountsOf(resources), [
      { name: "web", serviceAccounts: [{ namespace: "shop", name: "web-sa" }] },
    ]);
  });
});

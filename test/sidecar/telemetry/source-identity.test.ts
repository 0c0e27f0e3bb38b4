import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MeshIdentities } from "../../../src/sidecar/identity-table.ts";
import {
  claimedSource,
  meshPeers,
  PeerSources,
  plainAddress,
  SOURCE_HEADER,
  setSourceHeader,
  trustedSource,
  UNKNOWN_SOURCE,
} from "../../../src/sidecar/telemetry/source-identity.ts";

const mesh = meshPeers([
  { name: "reviews", endpoints: [{ address: "10.0.0.5" }, { address: "10.0.0.6" }] },
  { name: "web", endpoints: [{ address: "fd00::7" }] },
  { name: "ratings", endpoints: [] },
]);

describe("trustedSource", () => {
  const cases: [string, string | undefined, string | undefined, string][] = [
    ["a mesh peer naming a Service", "10.0.0.5", "reviews", "reviews"],
    ["a mesh peer naming another Service of the mesh", "10.0.0.6", "ratings", "ratings"],
    ["an IPv4-mapped IPv6 peer", "::ffff:10.0.0.5", "web", "web"],
    ["an IPv6 peer", "fd00::7", "reviews", "reviews"],
    ["a peer outside the mesh", "10.0.0.99", "reviews", UNKNOWN_SOURCE],
    ["no peer address (socket gone)", undefined, "reviews", UNKNOWN_SOURCE],
    ["a mesh peer with no header", "10.0.0.5", undefined, UNKNOWN_SOURCE],
    ["a name the snapshot does not have", "10.0.0.5", "evil", UNKNOWN_SOURCE],
    ["a name differing in case", "10.0.0.5", "Reviews", UNKNOWN_SOURCE],
    ["a name with a comma (two headers joined)", "10.0.0.5", "reviews, web", UNKNOWN_SOURCE],
    ["an empty name", "10.0.0.5", "", UNKNOWN_SOURCE],
    ["a mapped prefix on a non-IPv4 peer", "::ffff:fd00::7", "web", UNKNOWN_SOURCE],
  ];
  for (const [why, peer, claimed, want] of cases) {
    it(`${why}: ${want}`, () => assert.equal(trustedSource(peer, claimed, mesh), want));
  }

  it("names only Services of the snapshot, whatever the header says (property)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("10.0.0.5", "10.0.0.99", "::ffff:10.0.0.6", "fd00::7"),
        fc.string(),
        (peer, claimed) => {
          const got = trustedSource(peer, claimed, mesh);
          assert.ok(got === UNKNOWN_SOURCE || mesh.services.has(got));
          if (got !== UNKNOWN_SOURCE) assert.ok(mesh.addresses.has(plainAddress(peer)));
        },
      ),
    );
  });
});

describe("a verified peer identity", () => {
  const services = [
    { name: "reviews", endpoints: [{ address: "10.0.0.5" }], serviceAccounts: [{ namespace: "shop", name: "rev" }] },
    { name: "web", endpoints: [], serviceAccounts: [{ namespace: "shop", name: "shared" }] },
    { name: "admin", endpoints: [], serviceAccounts: [{ namespace: "shop", name: "shared" }] },
  ];
  const identities = new MeshIdentities();
  identities.useTrustDomain("cluster.local");
  identities.useServices(services);
  const sources = new PeerSources(meshPeers(services), identities);
  const td = "spiffe://cluster.local";
  const cases: [string, string, string | undefined, string][] = [
    ["a /service/ ID of the snapshot", `${td}/service/web`, "admin", "web"],
    ["a /service/ ID the snapshot does not have (label cardinality)", `${td}/service/evil`, "web", UNKNOWN_SOURCE],
    ["an account one Service lists", `${td}/ns/shop/sa/rev`, "web", "reviews"],
    ["an account no Service lists", `${td}/ns/shop/sa/nobody`, "web", UNKNOWN_SOURCE],
    ["a shared account, the header naming one of its Services", `${td}/ns/shop/sa/shared`, "admin", "admin"],
    ["a shared account, the header naming another Service", `${td}/ns/shop/sa/shared`, "reviews", UNKNOWN_SOURCE],
    ["a shared account, no header", `${td}/ns/shop/sa/shared`, undefined, UNKNOWN_SOURCE],
    ["an ID of another form", `${td}/workload/web`, "web", UNKNOWN_SOURCE],
    ["a /service/ ID with more segments", `${td}/service/web/x`, "web", UNKNOWN_SOURCE],
    ["an account of another trust domain", "spiffe://other.td/ns/shop/sa/rev", "reviews", UNKNOWN_SOURCE],
  ];
  for (const [why, id, claimed, want] of cases) {
    it(`${why}: ${want}`, () => {
      // From an address outside the mesh: the header-and-address rule would say unknown for every case.
      assert.equal(sources.sourceOf(id, "192.0.2.1", claimed), want);
    });
  }

  it("plain text keeps the address-and-header rule", () => {
    assert.equal(sources.sourceOf(undefined, "10.0.0.5", "web"), "web");
    assert.equal(sources.sourceOf(undefined, "192.0.2.1", "web"), UNKNOWN_SOURCE);
  });
});

describe("the x-meshlet-source header", () => {
  it("is read from a raw list in any case; given twice it is refused", () => {
    assert.equal(claimedSource(["Host", "a", "X-Meshlet-Source", "web"]), "web");
    assert.equal(claimedSource(["Host", "a"]), undefined);
    assert.equal(claimedSource(["x-meshlet-source", "web", "X-MESHLET-SOURCE", "reviews"]), undefined);
  });

  it("is replaced on the way out: the app's claim (any case, repeated) is dropped, ours set", () => {
    const headers = ["Host", "a", "X-Meshlet-Source", "admin", "x-meshlet-source", "root", "X-Keep", "1"];
    setSourceHeader(headers, "reviews");
    assert.deepEqual(headers, ["Host", "a", "X-Keep", "1", SOURCE_HEADER, "reviews"]);
  });

  it("is dropped, not forwarded, for an unknown caller", () => {
    const headers = ["X-Meshlet-Source", "reviews", "Host", "a"];
    setSourceHeader(headers, UNKNOWN_SOURCE);
    assert.deepEqual(headers, ["Host", "a"]);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { entitle } from "../../../src/controlplane/security/entitlement.ts";

const lists = new Map([
  ["reviews", [{ namespace: "bookinfo", name: "reviews" }]],
  ["ratings", []],
]);
const accountsOf = (s: string) => lists.get(s);
const reviews = { namespace: "bookinfo", name: "reviews" };

describe("entitle", () => {
  it("gives the service form without an account unless the Service lists accounts", () => {
    assert.deepEqual(entitle({ service: "ratings" }, undefined, accountsOf), {
      ok: true,
      name: { service: "ratings" },
    });
    // A sidecar of a Service that lists accounts may not take the form no namespace/principal rule names.
    const bare = entitle({ service: "reviews" }, undefined, accountsOf);
    assert.equal(bare.ok, false);
    assert.match(bare.ok ? "" : bare.message, /lists service accounts/);
    assert.deepEqual(entitle({ service: "nowhere" }, undefined, accountsOf), {
      ok: true,
      name: { service: "nowhere" },
    });
  });

  it("gives the account form when the Service lists the account (from the hello or the token)", () => {
    const want = { ok: true, name: { namespace: "bookinfo", serviceAccount: "reviews" } };
    assert.deepEqual(entitle({ service: "reviews", account: reviews }, undefined, accountsOf), want);
    assert.deepEqual(entitle({ service: "reviews" }, reviews, accountsOf), want);
    assert.deepEqual(entitle({ service: "reviews", account: reviews }, reviews, accountsOf), want);
  });

  it("refuses a token's account the Service does not list, and a hello that names another account than its token", () => {
    assert.equal(entitle({ service: "ratings" }, reviews, accountsOf).ok, false);
    assert.equal(entitle({ service: "nowhere" }, reviews, accountsOf).ok, false);
    const other = entitle(
      { service: "reviews", account: { namespace: "bookinfo", name: "ratings" } },
      reviews,
      accountsOf,
    );
    assert.equal(other.ok, false);
    assert.match(other.ok ? "" : other.message, /token is for bookinfo\/reviews/);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type AuthorizationPolicy, authorizationPolicySchema, type Resource } from "../../../src/config/resources.ts";
import { type AuthzRequest, compileAuthorizer, namespaceOfIdentity } from "../../../src/sidecar/authz/compile.ts";
import { DEFAULT_PATH_OPTIONS, normalizePath } from "../../../src/sidecar/engine/path.ts";
import { IdentityTable } from "../../../src/sidecar/identity-table.ts";

const TD = "spiffe://cluster.local/service";
const WEB = `${TD}/web`;
const RATINGS = `${TD}/ratings`;
const SHOP = "spiffe://cluster.local/ns/shop/sa";

/** The sidecar's identity table: `web` runs as shop/web-sa, and shares shop/shared with `admin`. */
const IDENTITIES = {
  table: new IdentityTable(
    [
      {
        name: "web",
        serviceAccounts: [
          { namespace: "shop", name: "web-sa" },
          { namespace: "shop", name: "shared" },
        ],
      },
      { name: "admin", serviceAccounts: [{ namespace: "shop", name: "shared" }] },
      { name: "ratings" },
    ],
    "cluster.local",
  ),
};

function policy(name: string, spec: unknown): AuthorizationPolicy {
  return authorizationPolicySchema.parse({
    apiVersion: "meshlet.dev/v1",
    kind: "AuthorizationPolicy",
    metadata: { name },
    spec,
  });
}

/** A request as the engine hands it over: the path is what normalizePath made of the raw one. */
function req(o: {
  method?: string;
  path?: string;
  headers?: [string, string][];
  peer?: string | undefined;
}): AuthzRequest {
  const raw = o.path ?? "/";
  const path = normalizePath(raw, DEFAULT_PATH_OPTIONS);
  assert.ok(path !== undefined, `the engine refuses ${raw}`);
  const headers = o.headers ?? [];
  return {
    method: o.method ?? "GET",
    path,
    head: { names: headers.map(([n]) => n), values: headers.map(([, v]) => v) },
    socket: { peerIdentity: o.peer },
  };
}

const ALLOW_WEB_READS = policy("allow-web", {
  targetService: "reviews",
  action: "ALLOW",
  rules: [
    {
      from: { services: ["web"] },
      to: { methods: ["GET", "HEAD"], paths: [{ prefix: "/public" }, { exact: "/health" }] },
    },
    { from: { identities: [`${TD}/admin-*`] } },
    { from: { identities: ["*/ops"] }, to: { headers: [{ name: "X-Role", exact: "sre" }] } },
    { to: { paths: [{ exact: "/open" }], headers: [{ name: "x-tenant", prefix: "acme-" }] } },
  ],
});
const DENY_SECRET = policy("deny-secret", {
  targetService: "reviews",
  action: "DENY",
  rules: [{ to: { paths: [{ prefix: "/secret" }] } }, { from: { services: ["ratings"] } }],
});

function verdict(resources: readonly Resource[], r: AuthzRequest): string {
  const a = compileAuthorizer(resources, "reviews", IDENTITIES);
  const d = a?.check(r);
  return d === undefined ? "allow" : `${d.reason}:${d.policy}`;
}

describe("AuthorizationPolicy matcher", () => {
  const both = [ALLOW_WEB_READS, DENY_SECRET];
  const cases: [string, readonly Resource[], Parameters<typeof req>[0], string][] = [
    ["no policy: allow", [], { path: "/secret", peer: RATINGS }, "allow"],
    [
      "a policy for another service: allow",
      [{ ...DENY_SECRET, spec: { ...DENY_SECRET.spec, targetService: "x" } }],
      { path: "/secret" },
      "allow",
    ],
    ["ALLOW rule: service, method and prefix", both, { path: "/public/a", peer: WEB }, "allow"],
    ["ALLOW rule: exact path", both, { path: "/health", peer: WEB }, "allow"],
    [
      "DENY before ALLOW: a request both match is denied",
      [
        ALLOW_WEB_READS,
        policy("deny-web-drafts", {
          targetService: "reviews",
          action: "DENY",
          rules: [{ from: { services: ["web"] }, to: { paths: [{ prefix: "/public/drafts" }] } }],
        }),
      ],
      { path: "/public/drafts/1", peer: WEB },
      "deny-rule:deny-web-drafts",
    ],
    ["exact is not a prefix", both, { path: "/health/x", peer: WEB }, "no-allow-rule:allow-web"],
    [
      "ALLOW selected, method not listed",
      both,
      { method: "POST", path: "/public/a", peer: WEB },
      "no-allow-rule:allow-web",
    ],
    ["ALLOW selected, path not listed", both, { path: "/private", peer: WEB }, "no-allow-rule:allow-web"],
    ["dot segments out of the prefix", both, { path: "/public/../private", peer: WEB }, "no-allow-rule:allow-web"],
    ["escaped dots out of the prefix", both, { path: "/public/%2e%2e/private", peer: WEB }, "no-allow-rule:allow-web"],
    ["escaped slash out of the prefix", both, { path: "/public%2F..%2Fprivate", peer: WEB }, "no-allow-rule:allow-web"],
    [
      "escaped backslash out of the prefix",
      both,
      { path: "/public%5C..%5Cprivate", peer: WEB },
      "no-allow-rule:allow-web",
    ],
    ["DENY prefix, plain", both, { path: "/secret", peer: WEB }, "deny-rule:deny-secret"],
    ["DENY prefix through ..", both, { path: "/public/../secret", peer: WEB }, "deny-rule:deny-secret"],
    ["DENY prefix through %2e%2e", both, { path: "/public/%2e%2e/secret", peer: WEB }, "deny-rule:deny-secret"],
    ["DENY prefix through %2E.", both, { path: "/public/%2E./secret/x", peer: WEB }, "deny-rule:deny-secret"],
    ["DENY prefix through //", both, { path: "//secret", peer: WEB }, "deny-rule:deny-secret"],
    ["DENY prefix through ///./", both, { path: "///./secret", peer: WEB }, "deny-rule:deny-secret"],
    ["DENY prefix through escaped letters", both, { path: "/%73ecret", peer: WEB }, "deny-rule:deny-secret"],
    ["DENY prefix through %2F", both, { path: "/public%2F..%2Fsecret", peer: WEB }, "deny-rule:deny-secret"],
    ["DENY before ALLOW: denied service", both, { path: "/public/a", peer: RATINGS }, "deny-rule:deny-secret"],
    ["identity prefix wildcard", both, { method: "DELETE", path: "/x", peer: `${TD}/admin-eu` }, "allow"],
    ["identity prefix wildcard, other", both, { path: "/x", peer: `${TD}/adm` }, "no-allow-rule:allow-web"],
    [
      "identity suffix wildcard + header",
      both,
      { path: "/x", peer: "spiffe://other/service/ops", headers: [["x-role", "sre"]] },
      "allow",
    ],
    [
      "identity suffix, header differs",
      both,
      { path: "/x", peer: "spiffe://other/service/ops", headers: [["x-role", "dev"]] },
      "no-allow-rule:allow-web",
    ],
    [
      "identity suffix, header absent",
      both,
      { path: "/x", peer: "spiffe://other/service/ops" },
      "no-allow-rule:allow-web",
    ],
    [
      "repeated header joins: no exact match",
      both,
      {
        path: "/x",
        peer: "spiffe://o/service/ops",
        headers: [
          ["x-role", "sre"],
          ["x-role", "dev"],
        ],
      },
      "no-allow-rule:allow-web",
    ],
    [
      "header prefix, no source given: plain text ok",
      both,
      { path: "/open", headers: [["x-tenant", "acme-1"]] },
      "allow",
    ],
    ["header prefix mismatch", both, { path: "/open", headers: [["x-tenant", "acm"]] }, "no-allow-rule:allow-web"],
    ["plain-text caller matches no services rule", both, { path: "/public/a" }, "no-allow-rule:allow-web"],
    [
      "plain-text caller matches no identities rule",
      [policy("p", { targetService: "reviews", action: "ALLOW", rules: [{ from: { identities: ["*"] } }] })],
      { path: "/" },
      "no-allow-rule:p",
    ],
    ["plain-text caller is not a denied service", [DENY_SECRET], { path: "/x" }, "allow"],
    [
      "identity * admits any mesh peer",
      [policy("p", { targetService: "reviews", action: "ALLOW", rules: [{ from: { identities: ["*"] } }] })],
      { path: "/", peer: RATINGS },
      "allow",
    ],
    [
      "an account no Service lists is no service",
      [policy("p", { targetService: "reviews", action: "ALLOW", rules: [{ from: { services: ["*"] } }] })],
      { path: "/", peer: "spiffe://td/ns/a/sa/web" },
      "no-allow-rule:p",
    ],
    [
      "ALLOW with no rules denies all",
      [policy("p", { targetService: "reviews", action: "ALLOW", rules: [] })],
      { path: "/", peer: WEB },
      "no-allow-rule:p",
    ],
    [
      "an empty rule matches all",
      [policy("p", { targetService: "reviews", action: "ALLOW", rules: [{}] })],
      { path: "/", peer: WEB },
      "allow",
    ],
    ["DENY only, no match: allow", [DENY_SECRET], { path: "/public", peer: WEB }, "allow"],
  ];
  for (const [name, resources, r, want] of cases) {
    it(name, () => assert.equal(verdict(resources, req(r)), want));
  }

  it("returns no authorizer when no policy targets the service (nothing runs per request)", () => {
    assert.equal(compileAuthorizer([DENY_SECRET], "web", IDENTITIES), undefined);
  });

  it("before the trust domain is known no caller is a service (a sidecar without a certificate)", () => {
    const none = { table: new IdentityTable([{ name: "web" }], undefined) };
    const check = (p: AuthorizationPolicy) =>
      compileAuthorizer([p], "reviews", none)?.check(req({ path: "/health", peer: WEB }));
    assert.equal(check(ALLOW_WEB_READS)?.reason, "no-allow-rule");
  });

  it("refuses bad identity patterns and paths in the schema", () => {
    const bad = [
      { identities: ["a*b"] },
      { identities: ["**"] },
      { identities: ["*a*"] },
      { identities: [] },
      { services: ["Not_A_Name"] },
    ];
    for (const from of bad) {
      const r = authorizationPolicySchema.safeParse({
        apiVersion: "meshlet.dev/v1",
        kind: "AuthorizationPolicy",
        metadata: { name: "p" },
        spec: { targetService: "s", action: "ALLOW", rules: [{ from }] },
      });
      assert.equal(r.success, false, JSON.stringify(from));
    }
    for (const to of [{ paths: [{ prefix: "x" }] }, { paths: [{ exact: "/a", prefix: "/a" }] }, { methods: ["get"] }]) {
      const r = authorizationPolicySchema.safeParse({
        apiVersion: "meshlet.dev/v1",
        kind: "AuthorizationPolicy",
        metadata: { name: "p" },
        spec: { targetService: "s", action: "DENY", rules: [{ to }] },
      });
      assert.equal(r.success, false, JSON.stringify(to));
    }
  });

  /**
   * Spellings of `/secret<tail>` by construction (the oracle is the generator, not the code under test):
   * escaped letters, decoy segments undone by dot segments, repeated, dotted and escaped slashes.
   */
  // Around decoys: separators that end a segment in some reading (an empty segment, as `//`, is one more to undo).
  const decoySeparator = fc.constantFrom("/", "/./", "%2F", "%2f", "/%2e/", "%5C", "%5c");
  // At the edges: separators every reading agrees on.
  const separator = fc.constantFrom("/", "//", "/./", "/%2e/", "///");
  const secret = fc
    .tuple(
      fc.array(fc.constantFrom("a", "public", "x.y"), { maxLength: 3 }),
      fc.array(fc.constantFrom("s", "e", "c", "r", "t", "z", "1"), { maxLength: 4 }),
      fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
      fc.tuple(separator, decoySeparator, fc.oneof(separator, decoySeparator)),
    )
    .map(([decoys, tail, escapes, [s0, s1, s3]]) => {
      // One spelling of the separator inside the decoys: mixing `%5C` and `/` there has no single reading.
      const s2 = s1;
      const letters = [..."secret"].map((ch, i) => (escapes[i] ? `%${ch.charCodeAt(0).toString(16)}` : ch)).join("");
      const up = decoys.map((d) => `${d}${s1}`).join("") + decoys.map(() => `..${s2}`).join("");
      return `${up}${letters}${tail.length > 0 ? `${s3}${tail.join("")}` : ""}`.replace(/^/, s0);
    });
  const rooted = (raw: string) => (raw.startsWith("/") ? raw : `/${raw}`);

  it("property: every spelling of /secret... is denied, whatever ALLOW says", () => {
    const open = policy("open", { targetService: "reviews", action: "ALLOW", rules: [{}] });
    const authorizer = compileAuthorizer([open, DENY_SECRET], "reviews", IDENTITIES);
    assert.ok(authorizer !== undefined);
    fc.assert(
      fc.property(secret, (raw) => {
        assert.equal(authorizer.check(req({ path: rooted(raw), peer: WEB }))?.policy, "deny-secret", raw);
      }),
      { numRuns: 2000 },
    );
  });

  it("property: under ALLOW /public, /public/<spelling> is allowed and /public/..<spelling> denied", () => {
    const authorizer = compileAuthorizer([ALLOW_WEB_READS], "reviews", IDENTITIES);
    assert.ok(authorizer !== undefined);
    fc.assert(
      fc.property(secret, decoySeparator, fc.constantFrom("..", "%2e%2e", ".%2E"), (raw, sep, dots) => {
        const inside = `/public/${raw.replace(/^\/+/, "")}`;
        const escaped = `/public${sep}${dots}${rooted(raw)}`;
        assert.equal(authorizer.check(req({ path: inside, peer: WEB })), undefined, inside);
        assert.equal(authorizer.check(req({ path: escaped, peer: WEB }))?.reason, "no-allow-rule", escaped);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("AuthorizationPolicy: from.services reads the identity table", () => {
  const allowOnly = (services: string[]) =>
    policy("allow", { targetService: "reviews", action: "ALLOW", rules: [{ from: { services } }] });
  const denyOnly = (services: string[]) =>
    policy("deny", { targetService: "reviews", action: "DENY", rules: [{ from: { services } }] });
  const cases: [string, AuthorizationPolicy, string | undefined, string][] = [
    ["ALLOW web: /service/web", allowOnly(["web"]), WEB, "allow"],
    ["ALLOW web: web's own account", allowOnly(["web"]), `${SHOP}/web-sa`, "allow"],
    [
      "ALLOW web: an account web shares with admin (may be admin)",
      allowOnly(["web"]),
      `${SHOP}/shared`,
      "no-allow-rule:allow",
    ],
    ["ALLOW web, admin: the shared account (whichever it is)", allowOnly(["web", "admin"]), `${SHOP}/shared`, "allow"],
    ["ALLOW admin: web's own account", allowOnly(["admin"]), `${SHOP}/web-sa`, "no-allow-rule:allow"],
    ["ALLOW web: an account no Service lists", allowOnly(["web"]), `${SHOP}/nobody`, "no-allow-rule:allow"],
    [
      "ALLOW web: web's account in another trust domain",
      allowOnly(["web"]),
      "spiffe://other.td/ns/shop/sa/web-sa",
      "no-allow-rule:allow",
    ],
    [
      "ALLOW web: another namespace, same account name",
      allowOnly(["web"]),
      "spiffe://cluster.local/ns/shop2/sa/web-sa",
      "no-allow-rule:allow",
    ],
    ["ALLOW *: the shared account", allowOnly(["*"]), `${SHOP}/shared`, "allow"],
    ["ALLOW *: a /service/ ID of no Service resource", allowOnly(["*"]), `${TD}/unlisted`, "allow"],
    ["ALLOW *: an account no Service lists", allowOnly(["*"]), `${SHOP}/nobody`, "no-allow-rule:allow"],
    ["ALLOW web: a /service/ ID with more segments", allowOnly(["web"]), `${TD}/web/x`, "no-allow-rule:allow"],
    ["ALLOW web: plain text", allowOnly(["web"]), undefined, "no-allow-rule:allow"],
    ["DENY admin: the shared account (may be admin)", denyOnly(["admin"]), `${SHOP}/shared`, "deny-rule:deny"],
    ["DENY admin: web's own account", denyOnly(["admin"]), `${SHOP}/web-sa`, "allow"],
    ["DENY web: web's own account", denyOnly(["web"]), `${SHOP}/web-sa`, "deny-rule:deny"],
    ["DENY *: the shared account", denyOnly(["*"]), `${SHOP}/shared`, "deny-rule:deny"],
    ["DENY *: an account no Service lists", denyOnly(["*"]), `${SHOP}/nobody`, "allow"],
  ];
  for (const [name, p, peer, want] of cases) {
    it(`${name}: ${want}`, () => assert.equal(verdict([p], req({ path: "/", peer })), want));
  }

  it("a new table (snapshot or trust domain) applies without recompiling the policies", () => {
    const identities = { table: new IdentityTable([{ name: "web" }], "cluster.local") };
    const authorizer = compileAuthorizer([allowOnly(["web"])], "reviews", identities);
    const sa = req({ path: "/", peer: `${SHOP}/web-sa` });
    assert.equal(authorizer?.check(sa)?.reason, "no-allow-rule");
    identities.table = new IdentityTable(
      [{ name: "web", serviceAccounts: [{ namespace: "shop", name: "web-sa" }] }],
      "cluster.local",
    );
    assert.equal(authorizer?.check(sa), undefined);
  });
});

describe("AuthorizationPolicy: principals and namespaces", () => {
  const SA = "spiffe://cluster.local/ns/bookinfo/sa";
  const ALLOW = policy("allow-accounts", {
    targetService: "reviews",
    rules: [
      { from: { principals: [`${SA}/productpage`] } },
      { from: { principals: ["spiffe://cluster.local/ns/ops/*"] }, to: { methods: ["GET"] } },
      { from: { namespaces: ["monitoring"] }, to: { paths: [{ exact: "/metrics" }] } },
    ],
  });
  const DENY_NS = policy("deny-sandbox", {
    targetService: "reviews",
    action: "DENY",
    rules: [{ from: { namespaces: ["sandbox"] } }],
  });
  const allowed = (peer: string | undefined, o: { method?: string; path?: string } = {}) =>
    verdict([ALLOW, DENY_NS], req({ ...o, ...(peer === undefined ? {} : { peer }) }));

  it("allows the exact principal, a principal under a /* prefix, and a namespace", () => {
    assert.equal(allowed(`${SA}/productpage`), "allow");
    assert.equal(allowed("spiffe://cluster.local/ns/ops/sa/oncall"), "allow");
    assert.equal(
      allowed("spiffe://cluster.local/ns/ops/sa/oncall", { method: "POST" }),
      "no-allow-rule:allow-accounts",
    );
    assert.equal(allowed("spiffe://cluster.local/ns/monitoring/sa/prometheus", { path: "/metrics" }), "allow");
  });

  it("matches no spelling that is not the identity", () => {
    for (const peer of [
      `${SA}/productpage2`,
      `${SA}/productpag`,
      `${SA}/productpage/x`,
      "spiffe://cluster.local/ns/Bookinfo/sa/productpage",
      "spiffe://other.domain/ns/bookinfo/sa/productpage",
      "spiffe://cluster.local/ns/ops-evil/sa/oncall",
      "spiffe://cluster.local/ns/ops",
      "spiffe://cluster.local/service/productpage",
      "spiffe://cluster.local/ns/monitoring-x/sa/prometheus",
      "spiffe://cluster.local/ns/monitoring/ab/prometheus",
      "spiffe://cluster.local/service/monitoring",
    ])
      assert.equal(allowed(peer, { path: "/metrics" }), "no-allow-rule:allow-accounts", peer);
    assert.equal(allowed(undefined, { path: "/metrics" }), "no-allow-rule:allow-accounts", "plain text");
  });

  it("a DENY on a namespace holds for every account of it, and only it", () => {
    assert.equal(allowed("spiffe://cluster.local/ns/sandbox/sa/productpage"), "deny-rule:deny-sandbox");
    assert.equal(allowed("spiffe://cluster.local/ns/sandbox2/sa/x"), "no-allow-rule:allow-accounts");
  });

  it("reads the namespace from /ns/<namespace>/sa/<account> only", () => {
    assert.equal(namespaceOfIdentity("spiffe://td/ns/a/sa/b"), "a");
    for (const id of [
      "spiffe://td/ns/a/sa/",
      "spiffe://td/ns/a/sa/b/c",
      "spiffe://td/ns//sa/b",
      "spiffe://td/ns/a/b",
      "spiffe://td/ns/a/ab/cd",
      "spiffe://td/x/ns/a/sa/b",
      "spiffe://td/service/a",
      "http://td/ns/a/sa/b",
    ])
      assert.equal(namespaceOfIdentity(id), undefined, id);
  });

  it("refuses principal and namespace spellings no certificate carries", () => {
    const bad: unknown[] = [
      { principals: ["spiffe://cluster.local/ns/ops*"] },
      { principals: ["cluster.local/ns/ops/sa/x"] },
      { principals: ["spiffe://cluster.local"] },
      { principals: ["spiffe://cluster.local/ns/../sa/x"] },
      { principals: ["*/sa/x"] },
      { principals: ["spiffe://Cluster.local/ns/a/sa/b"] },
      { principals: [] },
      { namespaces: ["Bookinfo"] },
      { namespaces: ["a/b"] },
      { namespaces: [] },
    ];
    for (const from of bad)
      assert.throws(() => policy("p", { targetService: "reviews", rules: [{ from }] }), JSON.stringify(from));
    policy("ok", {
      targetService: "reviews",
      rules: [{ from: { principals: ["*", "spiffe://td/*", `${SA}/x`], namespaces: ["default"] } }],
    });
  });
});

import assert from "node:assert/strict";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { spiffeIdFromAltNames, spiffeIdOf } from "../../src/security/identity.ts";
import { signingParams, toSigningKey, toVerifyingKey } from "../../src/security/keys.ts";
import { isTrustDomain, parseSpiffeId, spiffeIdFor } from "../../src/security/spiffe.ts";
import { SubjectAlternativeNameExtension, X509CertificateGenerator } from "../../src/security/x509.ts";

/** Fixed so a failure replays; fast-check prints the seed and path of a failing case. */
const SEED = 0x5f1ffe;
const runs = (numRuns: number) => ({ seed: SEED, numRuns });

const TD_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789._-".split("");
const SEGMENT_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-".split("");

const trustDomain = fc
  .array(fc.constantFrom(...TD_CHARS), { minLength: 1, maxLength: 40 })
  .map((c) => c.join(""))
  .filter((s) => !s.startsWith(".") && !s.endsWith("."));
/** Mostly DNS-label sized names, sometimes long enough to push an ID past the 2048-byte cap. */
const segment = fc
  .oneof(
    { weight: 8, arbitrary: fc.array(fc.constantFrom(...SEGMENT_CHARS), { minLength: 1, maxLength: 30 }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(...SEGMENT_CHARS), fc.integer({ min: 900, max: 2100 }))
        .map(([c, n]) => [c.repeat(n)]),
    },
  )
  .map((c) => c.join(""))
  .filter((s) => s !== "." && s !== "..");
const workload = fc.oneof(
  segment.map((service) => ({ service })),
  fc.tuple(segment, segment).map(([namespace, serviceAccount]) => ({ namespace, serviceAccount })),
);
const validId = fc
  .tuple(
    trustDomain,
    fc.array(
      segment.filter((s) => s.length < 100),
      { minLength: 1, maxLength: 5 },
    ),
  )
  .map(([td, segs]) => `spiffe://${td}/${segs.join("/")}`);

/** Characters a SPIFFE ID never holds: every one of them makes the ID invalid wherever it is inserted. */
const FORBIDDEN = [..."%:@?#[]!$&'()*+,;= \"\\<>^`{|}~\t\r\n\u0000\u007f", "é", "ı", "\u200b", "\ud800", "😀", "Ａ"];

test("property: spiffeIdFor round-trips through parseSpiffeId, or refuses the names", () => {
  fc.assert(
    fc.property(trustDomain, workload, (td, name) => {
      const segments =
        "service" in name ? ["service", name.service] : ["ns", name.namespace, "sa", name.serviceAccount];
      const expected = `spiffe://${td}/${segments.join("/")}`;
      let id: string;
      try {
        id = spiffeIdFor(td, name);
      } catch (err) {
        // Valid characters only, so the sole reason to refuse is the standard's 2048-byte cap.
        assert.ok(err instanceof RangeError && expected.length > 2048, `refused ${expected.length} bytes`);
        return;
      }
      assert.equal(id, expected);
      assert.deepEqual(parseSpiffeId(id), { trustDomain: td, segments });
    }),
    runs(1_500),
  );
});

test("property: parseSpiffeId never throws, never normalizes, and accepts only the standard's alphabet", () => {
  const accepted = /^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)+$/;
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 80 }),
        fc.string({ unit: "binary", maxLength: 80 }).map((s) => `spiffe://${s}`),
        fc.string({ maxLength: 40 }).map((s) => `spiffe://cluster.local/${s}`),
        validId,
      ),
      (value) => {
        const r = parseSpiffeId(value);
        if (r === undefined) return;
        assert.equal(`spiffe://${r.trustDomain}/${r.segments.join("/")}`, value, "the parse is the input, unchanged");
        assert.match(value, accepted);
        assert.ok(Buffer.byteLength(value) <= 2048);
        assert.ok(r.segments.every((s) => s !== "." && s !== ".."));
      },
    ),
    runs(3_000),
  );
});

test("property: a valid ID with any forbidden character inserted anywhere is refused", () => {
  fc.assert(
    fc.property(validId, fc.nat(), fc.constantFrom(...FORBIDDEN), (id, at, ch) => {
      assert.notEqual(parseSpiffeId(id), undefined);
      const i = at % (id.length + 1);
      const mutated = id.slice(0, i) + ch + id.slice(i);
      assert.equal(parseSpiffeId(mutated), undefined, JSON.stringify(mutated));
    }),
    runs(2_000),
  );
});

test("property: dot, empty and upper-case-host variants of a valid ID are refused", () => {
  fc.assert(
    fc.property(
      validId,
      fc.nat(),
      fc.constantFrom("dot", "dotdot", "empty", "trailing", "host-upper", "scheme-upper", "no-path"),
      (id, at, how) => {
        const rest = id.slice("spiffe://".length);
        const slash = rest.indexOf("/");
        const td = rest.slice(0, slash);
        const segs = rest.slice(slash + 1).split("/");
        const i = at % (segs.length + 1);
        const withSegment = (s: string) => `spiffe://${td}/${[...segs.slice(0, i), s, ...segs.slice(i)].join("/")}`;
        const mutated =
          how === "dot"
            ? withSegment(".")
            : how === "dotdot"
              ? withSegment("..")
              : how === "empty"
                ? withSegment("")
                : how === "trailing"
                  ? `${id}/`
                  : how === "host-upper"
                    ? `spiffe://${td.replace(/[a-z]/, (c) => c.toUpperCase())}/${segs.join("/")}`
                    : how === "scheme-upper"
                      ? id.replace("spiffe", ["SPIFFE", "Spiffe", "spiffE"][at % 3] as string)
                      : `spiffe://${td}`;
        // A trust domain of digits and punctuation has no letter to upper-case: nothing to check then.
        if (mutated === id) return;
        assert.equal(parseSpiffeId(mutated), undefined, JSON.stringify(mutated));
      },
    ),
    runs(2_000),
  );
});

test("property: isTrustDomain never throws and accepts only 1-255 of [a-z0-9._-], no leading or trailing dot", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 300 }), trustDomain), (value) => {
      assert.equal(
        isTrustDomain(value),
        /^[a-z0-9._-]{1,255}$/.test(value) && !value.startsWith(".") && !value.endsWith("."),
      );
    }),
    runs(2_000),
  );
});

test("hostile SPIFFE IDs are refused", () => {
  const long = `spiffe://cluster.local/service/${"a".repeat(2048 - "spiffe://cluster.local/service/".length)}`;
  assert.equal(long.length, 2048);
  assert.notEqual(parseSpiffeId(long), undefined, "exactly 2048 bytes is allowed");
  const cases: [string, string][] = [
    ["over 2048 bytes", `${long}a`],
    ["percent-encoded letter", "spiffe://cluster.local/service/w%65b"],
    ["percent-encoded slash", "spiffe://cluster.local/service%2Fweb"],
    ["percent-encoded dot segment", "spiffe://cluster.local/service/%2e%2e/admin"],
    ["dot segment", "spiffe://cluster.local/service/./web"],
    ["dot-dot segment", "spiffe://cluster.local/ns/a/../sa/b"],
    ["empty segment", "spiffe://cluster.local/service//web"],
    ["trailing slash", "spiffe://cluster.local/service/web/"],
    ["no path", "spiffe://cluster.local"],
    ["root path only", "spiffe://cluster.local/"],
    ["upper-case scheme", "SPIFFE://cluster.local/service/web"],
    ["upper-case trust domain", "spiffe://Cluster.local/service/web"],
    ["port", "spiffe://cluster.local:443/service/web"],
    ["userinfo", "spiffe://admin@cluster.local/service/web"],
    ["userinfo with password", "spiffe://a:b@cluster.local/service/web"],
    ["query", "spiffe://cluster.local/service/web?x=1"],
    ["fragment", "spiffe://cluster.local/service/web#frag"],
    ["empty trust domain", "spiffe:///service/web"],
    ["leading-dot trust domain", "spiffe://.cluster.local/service/web"],
    ["trailing-dot trust domain", "spiffe://cluster.local./service/web"],
    ["trust domain over 255", `spiffe://${"a".repeat(256)}/service/web`],
    ["IPv6 literal", "spiffe://[::1]/service/web"],
    ["non-ASCII path", "spiffe://cluster.local/service/wéb"],
    ["non-ASCII trust domain", "spiffe://clüster.local/service/web"],
    ["dotless i", "spiffe://cluster.local/service/admın"],
    ["full-width letter", "spiffe://cluster.local/service/ｗeb"],
    ["zero-width space", "spiffe://cluster.local/service/we\u200bb"],
    ["NUL", "spiffe://cluster.local/service/web\u0000"],
    ["backslash", "spiffe://cluster.local\\service\\web"],
    ["space", "spiffe://cluster.local/service/web "],
    ["leading space", " spiffe://cluster.local/service/web"],
    ["one slash", "spiffe:/cluster.local/service/web"],
    ["other scheme", "https://cluster.local/service/web"],
    ["lone surrogate", "spiffe://cluster.local/service/\ud800"],
  ];
  for (const [what, value] of cases) assert.equal(parseSpiffeId(value), undefined, what);
  assert.throws(() => spiffeIdFor("cluster.local", { service: "a".repeat(2048) }), RangeError);
  assert.throws(() => spiffeIdFor("Cluster.local", { service: "web" }), RangeError);
  assert.throws(() => spiffeIdFor("cluster.local", { service: ".." }), RangeError);
  assert.throws(() => spiffeIdFor("cluster.local", { namespace: "a/b", serviceAccount: "c" }), RangeError);
});

/**
 * Node's rendering of subjectAltName: `TYPE:value` joined by ", "; a value with a quote, backslash, comma,
 * apostrophe or control character is a JSON string whose commas are escaped too, so the list splits unambiguously.
 */
function unsafeAltName(value: string): boolean {
  return [...value].some((c) => "\"\\,'".includes(c) || c.charCodeAt(0) < 0x20 || c === "\u007f");
}

function renderAltNames(sans: [string, string][]): string {
  return sans
    .map(([type, value]) =>
      unsafeAltName(value) ? `${type}:${JSON.stringify(value).replaceAll(",", "\\u002c")}` : `${type}:${value}`,
    )
    .join(", ");
}

const sanValue = fc.oneof(
  validId,
  fc.string({ maxLength: 30 }),
  validId.map((id) => `x, URI:${id}, DNS:y`),
  validId.map((id) => `${id}, URI:${id}`),
  validId.map((id) => `"${id}"`),
);
const san = fc.tuple(fc.constantFrom("DNS", "URI", "IP Address", "email"), sanValue);

test("property: spiffeIdFromAltNames is the one URI SAN when it is a valid ID, undefined otherwise; never throws", () => {
  fc.assert(
    fc.property(fc.array(san, { maxLength: 4 }), (sans) => {
      const uris = sans.filter(([type]) => type === "URI").map(([, v]) => v);
      const expected = uris.length === 1 && parseSpiffeId(uris[0] as string) !== undefined ? uris[0] : undefined;
      assert.equal(spiffeIdFromAltNames(renderAltNames(sans)), expected);
    }),
    runs(3_000),
  );
  fc.assert(
    fc.property(fc.option(fc.string({ unit: "binary", maxLength: 200 })), (text) => {
      const r = spiffeIdFromAltNames(text ?? undefined);
      if (r !== undefined) assert.notEqual(parseSpiffeId(r), undefined);
    }),
    runs(2_000),
  );
});

test("hostile SANs in real certificates: only a lone, valid SPIFFE URI is an identity", async () => {
  const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const certWith = async (sans: { type: "dns" | "url" | "email"; value: string }[]) => {
    const cert = await X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: "CN=x",
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
      signingAlgorithm: signingParams(keys.privateKey),
      keys: { privateKey: toSigningKey(keys.privateKey), publicKey: toVerifyingKey(keys.publicKey) },
      extensions: sans.length === 0 ? [] : [new SubjectAlternativeNameExtension(sans, false)],
    });
    return new X509Certificate(cert.toString("pem"));
  };
  const id = "spiffe://cluster.local/service/web";
  const cases: [string, { type: "dns" | "url" | "email"; value: string }[], string | undefined][] = [
    ["the identity", [{ type: "url", value: id }], id],
    [
      "with a DNS name",
      [
        { type: "dns", value: "web.local" },
        { type: "url", value: id },
      ],
      id,
    ],
    ["no SAN", [], undefined],
    [
      "two URIs",
      [
        { type: "url", value: id },
        { type: "url", value: "spiffe://cluster.local/service/db" },
      ],
      undefined,
    ],
    ["a URI smuggled in a DNS name", [{ type: "dns", value: `x, URI:${id}, DNS:y` }], undefined],
    ["a URI smuggled in an email", [{ type: "email", value: `a@b, URI:${id}` }], undefined],
    ["two IDs in one URI", [{ type: "url", value: `${id}, URI:spiffe://cluster.local/service/db` }], undefined],
    ["quoted URI", [{ type: "url", value: `"${id}"` }], undefined],
    ["URI with a newline", [{ type: "url", value: `${id}\nURI:${id}` }], undefined],
    ["upper-case scheme", [{ type: "url", value: id.toUpperCase() }], undefined],
    ["dot segment", [{ type: "url", value: "spiffe://cluster.local/service/../admin" }], undefined],
    ["not SPIFFE", [{ type: "url", value: "https://cluster.local/service/web" }], undefined],
  ];
  for (const [what, sans, expected] of cases) assert.equal(spiffeIdOf(await certWith(sans)), expected, what);
});

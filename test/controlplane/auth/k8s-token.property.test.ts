import assert from "node:assert/strict";
import { createHmac, createPublicKey, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import fc from "fast-check";
import {
  K8sTokenVerifier,
  kubernetesKeyId,
  MAX_K8S_TOKEN_LIFETIME_S,
} from "../../../src/controlplane/auth/k8s-token.ts";

/** Fixed so a failure replays; fast-check prints the seed and path of a failing case. */
const SEED = 0x6b38;
const runs = (numRuns: number) => ({ seed: SEED, numRuns });

const ISSUER = "https://kubernetes.default.svc.cluster.local";
const NOW = Date.UTC(2026, 11, 3, 8, 0, 0);
const NOW_S = NOW / 1000;
const dir = mkdtempSync(join(tmpdir(), "meshlet-k8s-token-prop-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
const KID = kubernetesKeyId(rsa.publicKey);
const PEM = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();
writeFileSync(join(dir, "keys.pem"), PEM);
const verifier = K8sTokenVerifier.load({ keysFile: join(dir, "keys.pem"), issuer: ISSUER, audience: "meshlet" });

const b64 = (b: Buffer | string) => Buffer.from(b).toString("base64url");

/** A JWS by hand, so headers and payloads can be any bytes (jose's signer only makes well-formed ones). */
function jws(header: unknown, payload: unknown, key: KeyObject | "none" | { hmac: Buffer } = rsa.privateKey): string {
  const enc = (v: unknown) => (Buffer.isBuffer(v) ? b64(v) : b64(JSON.stringify(v)));
  const input = `${enc(header)}.${enc(payload)}`;
  if (key === "none") return `${input}.`;
  const sig =
    "hmac" in key ? createHmac("sha256", key.hmac).update(input).digest() : sign("sha256", Buffer.from(input), key);
  return `${input}.${b64(sig)}`;
}

function claims(o: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: ISSUER,
    aud: ["meshlet"],
    sub: "system:serviceaccount:bookinfo:reviews",
    iat: NOW_S - 60,
    exp: NOW_S + 3600,
    "kubernetes.io": { namespace: "bookinfo", serviceaccount: { name: "reviews", uid: "u1" } },
    ...o,
  };
}
const HEADER = { alg: "RS256", kid: KID };
const GOOD = jws(HEADER, claims());

/** The verdict within a bound: a hang is a failure, not a stuck test run. */
async function verdict(token: string): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    verifier.verify(token, NOW),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`verify hung on a ${token.length}-character token`)), 5_000);
    }),
  ]).finally(() => clearTimeout(timer));
  return r.ok ? `ok ${r.account.namespace}/${r.account.name}` : r.code;
}

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const mutation = fc.oneof(
  fc.record({
    kind: fc.constant("replace" as const),
    at: fc.nat(),
    ch: fc.constantFrom(...B64URL, ".", "=", "+", "/"),
  }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), ch: fc.constantFrom(...B64URL, ".", "=", " ", "é") }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant("segments" as const), order: fc.constantFrom("102", "021", "001", "011", "0122") }),
  fc.record({ kind: fc.constant("flip" as const), seg: fc.nat(2), at: fc.nat(), bit: fc.nat(7) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(token: string, m: Mutation): string {
  if (m.kind === "segments") {
    const s = token.split(".");
    return [...m.order].map((i) => s[Number(i)]).join(".");
  }
  if (m.kind === "flip") {
    const s = token.split(".");
    const bytes = Buffer.from(s[m.seg] as string, "base64url");
    const i = m.at % bytes.length;
    bytes[i] = (bytes[i] as number) ^ (1 << m.bit);
    s[m.seg] = b64(bytes);
    return s.join(".");
  }
  const at = m.at % (token.length + 1);
  if (m.kind === "replace") return token.slice(0, at) + m.ch + token.slice(at + 1);
  if (m.kind === "insert") return token.slice(0, at) + m.ch + token.slice(at);
  return token.slice(0, at) + token.slice(at + m.n);
}

/** Same header and payload text, same signature bytes (base64url's unused low bits may differ). */
function sameMeaning(a: string, b: string): boolean {
  const [ah, ap, as] = a.split(".");
  const [bh, bp, bs] = b.split(".");
  return ah === bh && ap === bp && Buffer.from(as ?? "", "base64url").equals(Buffer.from(bs ?? "", "base64url"));
}

test("property: a mutated valid token is never accepted unless it means the same, never throws, never hangs", async () => {
  assert.equal(await verdict(GOOD), "ok bookinfo/reviews");
  await fc.assert(
    fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (ms) => {
      const token = ms.reduce(mutate, GOOD);
      const v = await verdict(token);
      if (v.startsWith("ok")) assert.ok(sameMeaning(token, GOOD), `accepted a different token: ${token}`);
    }),
    runs(600),
  );
});

const numericDate = (around: number) =>
  fc.oneof(
    fc.integer({ min: around - 20, max: around + 20 }),
    fc.constantFrom(
      around,
      0,
      -1,
      Number.MAX_VALUE,
      -Number.MAX_VALUE,
      Number.MAX_SAFE_INTEGER,
      1.5 + around,
      `${around}`,
      null,
      true,
    ),
  );
const AUD = ["meshlet", "Meshlet", "meshlet ", "meshlet/", "https://kubernetes.default.svc", "", "*"];
const ISS = [ISSUER, `${ISSUER}/`, ISSUER.toUpperCase(), "https://evil.example", "", ` ${ISSUER}`];
/** Mostly the good value, so that tokens wrong in one claim only (the interesting ones) are frequent. */
const mostly = <T>(good: T, bad: fc.Arbitrary<unknown>) =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(good) }, { weight: 1, arbitrary: bad });
const claimVariants = fc.record({
  iss: mostly(ISSUER, fc.oneof(fc.constantFrom(...ISS), fc.constant(undefined), fc.constant([ISSUER]))),
  aud: mostly(
    ["meshlet"],
    fc.oneof(fc.constantFrom(...AUD), fc.subarray(AUD), fc.constant(undefined), fc.constant({ 0: "meshlet" })),
  ),
  exp: mostly(
    NOW_S + 3600,
    fc.oneof(
      numericDate(NOW_S - 5),
      numericDate(NOW_S + 3600),
      numericDate(NOW_S - 60 + MAX_K8S_TOKEN_LIFETIME_S),
      fc.constant(undefined),
    ),
  ),
  nbf: mostly(undefined, numericDate(NOW_S + 5)),
  iat: mostly(NOW_S - 60, fc.oneof(numericDate(NOW_S - 60), numericDate(NOW_S + 3600), fc.constant(undefined))),
  sub: mostly(
    "system:serviceaccount:bookinfo:reviews",
    fc.constantFrom(
      "system:serviceaccount:bookinfo:admin",
      "system:serviceaccount:bookinfo:reviews:x",
      "System:serviceaccount:bookinfo:reviews",
      "system:serviceaccount:kube-system:reviews",
      undefined,
    ),
  ),
  ns: mostly("bookinfo", fc.constantFrom("Bookinfo", "kube-system", "", "../x", "bookinfo\u0000")),
});

/** What a correctly signed token with these claims must get (jose's checks with a 5 s tolerance, then ours). */
function expected(c: {
  iss?: unknown;
  aud?: unknown;
  exp?: unknown;
  nbf?: unknown;
  iat?: unknown;
  sub?: unknown;
  ns: unknown;
}): boolean {
  const num = (v: unknown) => v === undefined || typeof v === "number";
  if (![c.exp, c.nbf, c.iat].every(num) || c.exp === undefined || c.sub === undefined) return false;
  if (c.iss !== ISSUER) return false;
  const auds = typeof c.aud === "string" ? [c.aud] : Array.isArray(c.aud) ? c.aud : [];
  if (!auds.includes("meshlet")) return false;
  if ((c.exp as number) <= NOW_S - 5) return false;
  if (c.nbf !== undefined && (c.nbf as number) > NOW_S + 5) return false;
  // Good for at most 24 h (and 5 s) from its issue, or from now when iat is missing or later.
  const from = c.iat === undefined ? NOW_S : Math.min(c.iat as number, NOW_S);
  if ((c.exp as number) - from > MAX_K8S_TOKEN_LIFETIME_S + 5) return false;
  return c.ns === "bookinfo" && c.sub === "system:serviceaccount:bookinfo:reviews";
}

test("property: signed claims are accepted exactly when issuer, audience, times and account all check out", async () => {
  await fc.assert(
    fc.asyncProperty(claimVariants, async (c) => {
      const payload: Record<string, unknown> = {
        "kubernetes.io": { namespace: c.ns, serviceaccount: { name: "reviews" } },
      };
      for (const k of ["iss", "aud", "exp", "nbf", "iat", "sub"] as const) if (c[k] !== undefined) payload[k] = c[k];
      const v = await verdict(jws(HEADER, payload));
      assert.equal(v.startsWith("ok"), expected(c), `${v} for ${JSON.stringify(payload)}`);
    }),
    runs(500),
  );
});

test("property: only an RS256 signature by the trusted key under its kid (or none) is taken, whatever else the header says", async () => {
  const publicJwk = Buffer.from(JSON.stringify(createPublicKey(PEM).export({ format: "jwk" })));
  const signer = fc.constantFrom<KeyObject | "none" | { hmac: Buffer }>(
    "none",
    { hmac: Buffer.from(PEM) },
    { hmac: publicJwk },
    { hmac: Buffer.alloc(0) },
    other.privateKey,
    rsa.privateKey,
  );
  const header = fc.record(
    {
      alg: fc.constantFrom("RS256", "none", "None", "HS256", "ES256", "PS256", "", "RS256 "),
      kid: fc.constantFrom(KID, kubernetesKeyId(other.publicKey), "", "../../etc/passwd", "0", undefined),
      typ: fc.constantFrom("JWT", "at+jwt", undefined),
      jwk: fc.constantFrom(undefined, other.publicKey.export({ format: "jwk" })),
      crit: fc.constantFrom(undefined, ["exp"], ["b64"]),
      b64: fc.constantFrom(undefined, false),
    },
    { requiredKeys: ["alg"] },
  );
  await fc.assert(
    fc.asyncProperty(header, signer, async (h, key) => {
      const clean = Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined));
      const v = await verdict(jws(clean, claims(), key));
      // Only the trusted key's RS256 signature, under its kid or none, with no extension the verifier must know.
      const good =
        key === rsa.privateKey &&
        h.alg === "RS256" &&
        (h.kid === KID || h.kid === undefined) &&
        h.crit === undefined &&
        h.b64 === undefined;
      assert.equal(v.startsWith("ok"), good, `${v} for ${JSON.stringify(clean)}`);
    }),
    runs(400),
  );
});

test("hostile Kubernetes tokens: a code each, no crash, no acceptance", async () => {
  const [h, p, s] = GOOD.split(".") as [string, string, string];
  const big = jws(HEADER, claims({ pad: "x".repeat(16 * 1024) }));
  const cases: [string, string, string][] = [
    ["empty", "", "ERR_K8S_TOKEN_MALFORMED"],
    ["two segments", `${h}.${p}`, "ERR_K8S_TOKEN_MALFORMED"],
    ["four segments", `${GOOD}.${s}`, "ERR_K8S_TOKEN_MALFORMED"],
    ["padding", `${h}.${p}.${s}==`, "ERR_K8S_TOKEN_MALFORMED"],
    [
      "standard base64 alphabet",
      `${h}.${p}.${s.replaceAll("-", "+").replaceAll("_", "/")}+/`,
      "ERR_K8S_TOKEN_MALFORMED",
    ],
    ["whitespace", ` ${GOOD}`, "ERR_K8S_TOKEN_MALFORMED"],
    ["trailing newline", `${GOOD}\n`, "ERR_K8S_TOKEN_MALFORMED"],
    ["over 16 KiB", big, "ERR_K8S_TOKEN_MALFORMED"],
    ["a megabyte", `${h}.${"A".repeat(1 << 20)}.${s}`, "ERR_K8S_TOKEN_MALFORMED"],
    ["JWE (five segments)", `${h}.${p}.${s}.${s}.${s}`, "ERR_K8S_TOKEN_MALFORMED"],
    ["alg none, no signature", jws({ alg: "none" }, claims(), "none"), "ERR_K8S_TOKEN_MALFORMED"],
    [
      "HS256 with the public key PEM",
      jws({ alg: "HS256", kid: KID }, claims(), { hmac: Buffer.from(PEM) }),
      "ERR_K8S_TOKEN_MALFORMED",
    ],
    ["header not JSON", jws(Buffer.from("{alg:RS256}"), claims()), "ERR_K8S_TOKEN_MALFORMED"],
    ["header a JSON array", jws(["RS256"], claims()), "ERR_K8S_TOKEN_MALFORMED"],
    ["header not UTF-8", jws(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), claims()), "ERR_K8S_TOKEN_MALFORMED"],
    [
      "payload not UTF-8",
      jws(HEADER, Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d])),
      "ERR_K8S_TOKEN_MALFORMED",
    ],
    ["payload not JSON", jws(HEADER, Buffer.from("not json")), "ERR_K8S_TOKEN_MALFORMED"],
    ["payload a JSON string", jws(HEADER, "system:serviceaccount:bookinfo:reviews"), "ERR_K8S_TOKEN_MALFORMED"],
    ["payload null", jws(HEADER, null), "ERR_K8S_TOKEN_MALFORMED"],
    ["kid of another key", jws({ alg: "RS256", kid: "other" }, claims()), "ERR_K8S_TOKEN_SIGNATURE"],
    ["signed by another key under our kid", jws(HEADER, claims(), other.privateKey), "ERR_K8S_TOKEN_SIGNATURE"],
    [
      "embedded jwk of the signer",
      jws({ ...HEADER, jwk: other.publicKey.export({ format: "jwk" }) }, claims(), other.privateKey),
      "ERR_K8S_TOKEN_SIGNATURE",
    ],
    [
      "unknown crit header",
      jws({ ...HEADER, crit: ["x-meshlet"], "x-meshlet": 1 }, claims()),
      "ERR_K8S_TOKEN_MALFORMED",
    ],
    ["exp at now - 5 s", jws(HEADER, claims({ exp: NOW_S - 5 })), "ERR_K8S_TOKEN_EXPIRED"],
    ["no exp (a legacy secret token)", jws(HEADER, claims({ exp: undefined })), "ERR_K8S_TOKEN_CLAIMS"],
    ["exp as a string", jws(HEADER, claims({ exp: `${NOW_S + 3600}` })), "ERR_K8S_TOKEN_CLAIMS"],
    ["nbf 6 s ahead", jws(HEADER, claims({ nbf: NOW_S + 6 })), "ERR_K8S_TOKEN_CLAIMS"],
    ["audience in another case", jws(HEADER, claims({ aud: "Meshlet" })), "ERR_K8S_TOKEN_AUDIENCE"],
    ["no audience", jws(HEADER, claims({ aud: undefined })), "ERR_K8S_TOKEN_AUDIENCE"],
    ["issuer with a trailing slash", jws(HEADER, claims({ iss: `${ISSUER}/` })), "ERR_K8S_TOKEN_ISSUER"],
    ["issuer as an array", jws(HEADER, claims({ iss: [ISSUER] })), "ERR_K8S_TOKEN_ISSUER"],
    [
      "namespace as an object",
      jws(HEADER, claims({ "kubernetes.io": { namespace: { toString: "bookinfo" } } })),
      "ERR_K8S_TOKEN_CLAIMS",
    ],
    [
      "namespace not a Kubernetes name, sub agreeing",
      jws(
        HEADER,
        claims({
          sub: "system:serviceaccount:../x:reviews",
          "kubernetes.io": { namespace: "../x", serviceaccount: { name: "reviews" } },
        }),
      ),
      "ERR_K8S_TOKEN_CLAIMS",
    ],
    ["kubernetes.io a string", jws(HEADER, claims({ "kubernetes.io": "bookinfo" })), "ERR_K8S_TOKEN_CLAIMS"],
    ["__proto__ claims", jws(HEADER, JSON.parse(`{"__proto__":${JSON.stringify(claims())}}`)), "ERR_K8S_TOKEN_ISSUER"],
  ];
  const got: [string, string][] = [];
  for (const [what, token] of cases) got.push([what, await verdict(token)]);
  assert.deepEqual(
    got,
    cases.map(([what, , code]) => [what, code]),
  );
  assert.equal(
    await verdict(jws(HEADER, claims({ exp: NOW_S - 4 }))),
    "ok bookinfo/reviews",
    "within the 5 s tolerance",
  );
  assert.equal(
    await verdict(jws(HEADER, claims({ nbf: NOW_S + 5 }))),
    "ok bookinfo/reviews",
    "within the 5 s tolerance",
  );
  assert.equal(await verdict(jws({ alg: "RS256" }, claims())), "ok bookinfo/reviews", "no kid: the one key is tried");
});

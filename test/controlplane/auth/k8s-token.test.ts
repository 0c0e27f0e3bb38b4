import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { SignJWT } from "jose";
import { Registry } from "prom-client";
import { Gatekeeper } from "../../../src/controlplane/auth/guard.ts";
import {
  K8sTokenVerifier,
  kubernetesKeyId,
  MAX_K8S_TOKEN_LIFETIME_S,
} from "../../../src/controlplane/auth/k8s-token.ts";
import { bearerCredential } from "../../../src/controlplane/auth/token.ts";
import { RevisionedKv } from "../../../src/controlplane/state/kv.ts";

const ISSUER = "https://kubernetes.default.svc.cluster.local";
const NOW = Date.UTC(2026, 11, 3, 8, 0, 0);
const dir = mkdtempSync(join(tmpdir(), "meshlet-k8s-token-"));

/** A projected service-account token as the kubelet gets it from the API server. */
export async function kubeToken(
  key: KeyObject,
  o: {
    ns?: string;
    sa?: string;
    aud?: string;
    iss?: string;
    exp?: number;
    /** Seconds since the epoch; null: no iat claim. */
    iat?: number | null;
    sub?: string;
    alg?: string;
    kid?: string;
  } = {},
): Promise<string> {
  const ns = o.ns ?? "bookinfo";
  const sa = o.sa ?? "reviews";
  const jwt = new SignJWT({ "kubernetes.io": { namespace: ns, serviceaccount: { name: sa, uid: "u1" } } })
    .setProtectedHeader({ alg: o.alg ?? "RS256", kid: o.kid ?? kubernetesKeyId(createPublicKey(key)) })
    .setIssuer(o.iss ?? ISSUER)
    .setAudience(o.aud ?? "meshlet")
    .setSubject(o.sub ?? `system:serviceaccount:${ns}:${sa}`)
    .setExpirationTime(o.exp ?? Math.floor(NOW / 1000) + 3600);
  if (o.iat !== null) jwt.setIssuedAt(o.iat ?? Math.floor(NOW / 1000) - 60);
  return jwt.sign(key);
}

function verifierFor(content: string, name: string): K8sTokenVerifier {
  const file = join(dir, name);
  writeFileSync(file, content);
  return K8sTokenVerifier.load({ keysFile: file, issuer: ISSUER, audience: "meshlet" });
}

describe("Kubernetes service-account tokens", () => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();
  const verifier = verifierFor(pem, "keys.pem");

  it("accepts a token of the cluster's key and names its account", async () => {
    assert.deepEqual(await verifier.verify(await kubeToken(rsa.privateKey), NOW), {
      ok: true,
      account: { namespace: "bookinfo", name: "reviews" },
    });
  });

  it("takes a JWKS and several keys (the API server rotates its signing key)", async () => {
    const jwks = {
      keys: [
        { ...other.publicKey.export({ format: "jwk" }), kid: "old", alg: "RS256", use: "sig" },
        { ...ec.publicKey.export({ format: "jwk" }), kid: "k1", alg: "ES256", use: "sig" },
      ],
    };
    const v = verifierFor(JSON.stringify(jwks), "jwks.json");
    assert.equal((await v.verify(await kubeToken(ec.privateKey, { alg: "ES256", kid: "k1" }), NOW)).ok, true);
    const pems = verifierFor(
      [other.publicKey, rsa.publicKey].map((k) => k.export({ type: "spki", format: "pem" })).join("\n"),
      "two.pem",
    );
    assert.equal((await pems.verify(await kubeToken(rsa.privateKey), NOW)).ok, true);
  });

  it("refuses with a code per reason", async () => {
    const code = async (token: string) => {
      const r = await verifier.verify(token, NOW);
      return r.ok ? "ok" : r.code;
    };
    assert.equal(
      await code(await kubeToken(rsa.privateKey, { exp: Math.floor(NOW / 1000) - 60 })),
      "ERR_K8S_TOKEN_EXPIRED",
    );
    assert.equal(await code(await kubeToken(other.privateKey)), "ERR_K8S_TOKEN_SIGNATURE");
    assert.equal(
      await code(await kubeToken(rsa.privateKey, { aud: "https://kubernetes.default.svc" })),
      "ERR_K8S_TOKEN_AUDIENCE",
    );
    assert.equal(await code(await kubeToken(rsa.privateKey, { iss: "https://evil.example" })), "ERR_K8S_TOKEN_ISSUER");
    assert.equal(
      await code(await kubeToken(rsa.privateKey, { sub: "system:serviceaccount:bookinfo:admin" })),
      "ERR_K8S_TOKEN_CLAIMS",
    );
    assert.equal(await code(await kubeToken(rsa.privateKey, { ns: "Bookinfo" })), "ERR_K8S_TOKEN_CLAIMS");
    // An HMAC token "signed" with the public key as the secret: the algorithm is not accepted.
    const hmac = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer(ISSUER)
      .setAudience("meshlet")
      .setSubject("system:serviceaccount:bookinfo:reviews")
      .setExpirationTime(Math.floor(NOW / 1000) + 60)
      .sign(new TextEncoder().encode(pem));
    assert.equal(await code(hmac), "ERR_K8S_TOKEN_MALFORMED");
    const [h, p] = (await kubeToken(rsa.privateKey)).split(".");
    assert.equal(await code(`${h}.${p}.`), "ERR_K8S_TOKEN_MALFORMED");
    assert.equal(await code(`${h}.${p}.AAAA`), "ERR_K8S_TOKEN_SIGNATURE");
    assert.equal(await code("mlt_notajwt"), "ERR_K8S_TOKEN_MALFORMED");
  });

  describe("lifetime: at most MAX_K8S_TOKEN_LIFETIME_S (24 h) from its issue, or from now", () => {
    const now = Math.floor(NOW / 1000);
    const H = 3600;
    const rows: [string, { iat?: number | null; exp: number }, string][] = [
      ["as injected: 1 h", { iat: now - 60, exp: now - 60 + H }, "ok"],
      ["24 h exactly", { iat: now - 60, exp: now - 60 + MAX_K8S_TOKEN_LIFETIME_S }, "ok"],
      ["24 h and a minute", { iat: now - 60, exp: now - 60 + MAX_K8S_TOKEN_LIFETIME_S + 60 }, "ERR_K8S_TOKEN_CLAIMS"],
      ["a year (Kubernetes' legacy extension)", { iat: now, exp: now + 365 * 24 * H }, "ERR_K8S_TOKEN_CLAIMS"],
      [
        "an iat in the future to hide a far exp",
        { iat: now + 300 * 24 * H, exp: now + 300 * 24 * H + H },
        "ERR_K8S_TOKEN_CLAIMS",
      ],
      ["no iat, 2 h left", { iat: null, exp: now + 2 * H }, "ok"],
      ["no iat, 25 h left", { iat: null, exp: now + 25 * H }, "ERR_K8S_TOKEN_CLAIMS"],
      ["issued 23 h ago, 1 h left (old, still within)", { iat: now - 23 * H, exp: now + H }, "ok"],
      ["issued 2 h ago for 25 h", { iat: now - 2 * H, exp: now + 23 * H }, "ERR_K8S_TOKEN_CLAIMS"],
    ];
    for (const [why, claims, want] of rows)
      it(`${why}: ${want}`, async () => {
        const r = await verifier.verify(await kubeToken(rsa.privateKey, claims), NOW);
        assert.equal(r.ok ? "ok" : r.code, want);
        if (!r.ok) assert.match(r.message, /over the 86400 s/);
      });
  });

  it("refuses a keys file without a key, or an issuer missing", () => {
    assert.throws(() => verifierFor("not a key", "bad.pem"), /no public key/);
    assert.throws(() => verifierFor("{", "bad.json"), /not a JWKS/);
    const file = join(dir, "k.pem");
    writeFileSync(file, pem);
    assert.throws(() => K8sTokenVerifier.load({ keysFile: file, issuer: "", audience: "meshlet" }), /issuer/);
  });
});

describe("Gatekeeper.kubernetesToken reads the scheme as parseBearer does", () => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const verifier = verifierFor(rsa.publicKey.export({ type: "spki", format: "pem" }).toString(), "gate.pem");
  const gate = new Gatekeeper(new RevisionedKv(), new Registry(), () => NOW, verifier);
  const jwt = "aaa.bbb.ccc";
  const rows: [string, string | undefined, string | undefined][] = [
    ["Bearer", `Bearer ${jwt}`, jwt],
    ["bearer", `bearer ${jwt}`, jwt],
    ["BEARER", `BEARER ${jwt}`, jwt],
    ["another scheme", `Basic ${jwt}`, undefined],
    ["no space", `Bearer${jwt}`, undefined],
    ["two spaces", `Bearer  ${jwt}`, undefined],
    ["scheme only", "Bearer", undefined],
    ["a meshlet token", `Bearer mlt_${"A".repeat(43)}`, undefined],
    ["no header", undefined, undefined],
  ];
  for (const [why, header, want] of rows)
    it(`${why}: ${want ?? "not a Kubernetes token"}`, () => {
      assert.equal(gate.kubernetesToken(header, { kind: "attach" }), want);
      // Whatever parseBearer reads as the scheme, the JWT path reads the same way.
      if (header !== undefined && want !== undefined) assert.equal(bearerCredential(header), want);
    });
});

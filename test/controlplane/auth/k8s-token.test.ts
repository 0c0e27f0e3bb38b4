import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { SignJWT } from "jose";
import { K8sTokenVerifier, kubernetesKeyId } from "../../../src/controlplane/auth/k8s-token.ts";

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
    sub?: string;
    alg?: string;
    kid?: string;
  } = {},
): Promise<string> {
  const ns = o.ns ?? "bookinfo";
  const sa = o.sa ?? "reviews";
  return new SignJWT({ "kubernetes.io": { namespace: ns, serviceaccount: { name: sa, uid: "u1" } } })
    .setProtectedHeader({ alg: o.alg ?? "RS256", kid: o.kid ?? kubernetesKeyId(createPublicKey(key)) })
    .setIssuer(o.iss ?? ISSUER)
    .setAudience(o.aud ?? "meshlet")
    .setSubject(o.sub ?? `system:serviceaccount:${ns}:${sa}`)
    .setIssuedAt(Math.floor(NOW / 1000) - 60)
    .setExpirationTime(o.exp ?? Math.floor(NOW / 1000) + 3600)
    .sign(key);
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

  it("refuses a keys file without a key, or an issuer missing", () => {
    assert.throws(() => verifierFor("not a key", "bad.pem"), /no public key/);
    assert.throws(() => verifierFor("{", "bad.json"), /not a JWKS/);
    const file = join(dir, "k.pem");
    writeFileSync(file, pem);
    assert.throws(() => K8sTokenVerifier.load({ keysFile: file, issuer: "", audience: "meshlet" }), /issuer/);
  });
});

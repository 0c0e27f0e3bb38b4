import { createHash, createPublicKey, type JsonWebKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createLocalJWKSet, errors, type JWTPayload, jwtVerify } from "jose";
import { UsageError } from "../../common/errors.ts";
import { isNamespace, isServiceAccountName, type ServiceAccountRef } from "../../config/kube-names.ts";

/**
 * Kubernetes service-account tokens (projected, bound tokens: a JWT the
 * kubelet writes into the pod and rotates), verified offline with `jose`
 * against the cluster's service-account signing keys, the issuer and the
 * audience the pod's projected volume asked for. The token's namespace and
 * service account are then the sidecar's identity (entitlement.ts). No call
 * to the API server (TokenReview): a token stays good until its `exp`.
 */
export type K8sTokenCode =
  | "ERR_K8S_TOKEN_MALFORMED"
  | "ERR_K8S_TOKEN_EXPIRED"
  | "ERR_K8S_TOKEN_SIGNATURE"
  | "ERR_K8S_TOKEN_AUDIENCE"
  | "ERR_K8S_TOKEN_ISSUER"
  | "ERR_K8S_TOKEN_CLAIMS";

export interface K8sTokenOptions {
  /** PEM public keys or certificates, or a JWKS (the API server's /openid/v1/jwks). */
  keysFile: string;
  issuer: string;
  audience: string;
}

export const DEFAULT_K8S_TOKEN_AUDIENCE = "meshlet";

/** Asymmetric algorithms only: never `none`, never an HMAC whose key would be the public key. */
const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];
/** Projected tokens are about 1 KiB; a bound avoids parsing anything large before the signature is checked. */
const MAX_TOKEN_BYTES = 16 * 1024;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/**
 * The longest a token may be good for, counted from when it was issued (or from now, if `iat` is missing or
 * later): 24 h, the age at which the kubelet replaces a projected token whatever its expirationSeconds. A pod
 * never holds a token older than that, and `meshlet inject` asks for 1 h (TOKEN_EXPIRATION_SECONDS), so a
 * longer one was made by hand (a legacy or TokenRequest token with a far `exp`): verification is offline, and
 * such a token, once leaked, would attach a sidecar until its `exp`.
 */
export const MAX_K8S_TOKEN_LIFETIME_S = 24 * 3600;
/** Clock skew allowed on `exp` and `nbf`, and on the lifetime bound. */
const CLOCK_TOLERANCE_S = 5;

export type K8sTokenResult =
  | { ok: true; account: ServiceAccountRef }
  | { ok: false; code: K8sTokenCode; message: string };

export function looksLikeJwt(token: string): boolean {
  return token.length <= MAX_TOKEN_BYTES && JWT_SHAPE.test(token);
}

export class K8sTokenVerifier {
  readonly #keys: ReturnType<typeof createLocalJWKSet>;
  readonly #o: K8sTokenOptions;

  constructor(keys: JsonWebKey[], o: K8sTokenOptions) {
    this.#o = o;
    this.#keys = createLocalJWKSet({ keys: keys as Parameters<typeof createLocalJWKSet>[0]["keys"] });
  }

  /** Reads --k8s-token-keys; a file that holds no usable key is a usage error. */
  static load(o: K8sTokenOptions): K8sTokenVerifier {
    let text: string;
    try {
      text = readFileSync(o.keysFile, "utf8");
    } catch (err) {
      throw new UsageError(`--k8s-token-keys ${o.keysFile}: ${(err as Error).message}`);
    }
    const keys = parseKeys(text, o.keysFile);
    if (o.issuer === "") throw new UsageError("--k8s-token-issuer is required with --k8s-token-keys");
    if (o.audience === "") throw new UsageError("--k8s-token-audience: expected a non-empty audience");
    return new K8sTokenVerifier(keys, o);
  }

  async verify(token: string, now: number): Promise<K8sTokenResult> {
    if (!looksLikeJwt(token)) return { ok: false, code: "ERR_K8S_TOKEN_MALFORMED", message: "not a JWT" };
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#keys, {
        issuer: this.#o.issuer,
        audience: this.#o.audience,
        algorithms: ALGORITHMS,
        requiredClaims: ["exp", "sub"],
        currentDate: new Date(now),
        clockTolerance: CLOCK_TOLERANCE_S,
      }));
    } catch (err) {
      return refusal(err);
    }
    return lifetimeRefusal(payload, now) ?? accountOf(payload);
  }
}

function refusal(err: unknown): K8sTokenResult {
  if (err instanceof errors.JWTExpired)
    return { ok: false, code: "ERR_K8S_TOKEN_EXPIRED", message: "the Kubernetes token has expired" };
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "aud")
      return { ok: false, code: "ERR_K8S_TOKEN_AUDIENCE", message: "the Kubernetes token is for another audience" };
    if (err.claim === "iss")
      return { ok: false, code: "ERR_K8S_TOKEN_ISSUER", message: "the Kubernetes token is from another issuer" };
    return {
      ok: false,
      code: "ERR_K8S_TOKEN_CLAIMS",
      message: `the Kubernetes token's ${err.claim} claim: ${err.reason}`,
    };
  }
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey)
    return {
      ok: false,
      code: "ERR_K8S_TOKEN_SIGNATURE",
      message: "the Kubernetes token is not signed by a trusted key",
    };
  return { ok: false, code: "ERR_K8S_TOKEN_MALFORMED", message: "the Kubernetes token cannot be read" };
}

/** A token good for longer than MAX_K8S_TOKEN_LIFETIME_S from its issue (or from now): refused. */
function lifetimeRefusal(payload: JWTPayload, now: number): K8sTokenResult | undefined {
  const nowS = Math.floor(now / 1000);
  const from = typeof payload.iat === "number" ? Math.min(payload.iat, nowS) : nowS;
  const lifetime = (payload.exp as number) - from;
  if (lifetime <= MAX_K8S_TOKEN_LIFETIME_S + CLOCK_TOLERANCE_S) return undefined;
  return {
    ok: false,
    code: "ERR_K8S_TOKEN_CLAIMS",
    message: `the Kubernetes token is good for ${lifetime} s, over the ${MAX_K8S_TOKEN_LIFETIME_S} s meshlet accepts (a projected token's expirationSeconds)`,
  };
}

/** `kubernetes.io` names the account; `sub` must say the same (system:serviceaccount:<ns>:<name>). */
function accountOf(payload: JWTPayload): K8sTokenResult {
  const kube = payload["kubernetes.io"] as { namespace?: unknown; serviceaccount?: { name?: unknown } } | undefined;
  const namespace = kube?.namespace;
  const name = kube?.serviceaccount?.name;
  if (
    typeof namespace !== "string" ||
    typeof name !== "string" ||
    !isNamespace(namespace) ||
    !isServiceAccountName(name) ||
    payload.sub !== `system:serviceaccount:${namespace}:${name}`
  )
    return {
      ok: false,
      code: "ERR_K8S_TOKEN_CLAIMS",
      message: "the Kubernetes token names no service account (kubernetes.io claims and sub must agree)",
    };
  return { ok: true, account: { namespace, name } };
}

/**
 * The `kid` the API server puts in the tokens it signs with `key`: base64url of the SHA-256 of the key's PKIX
 * DER. A PEM file carries no key ids, and tokens always name one, so PEM keys get theirs this way.
 */
export function kubernetesKeyId(key: KeyObject): string {
  return createHash("sha256")
    .update(key.export({ type: "spki", format: "der" }))
    .digest("base64url");
}

function parseKeys(text: string, file: string): JsonWebKey[] {
  const trimmed = text.trim();
  let keys: JsonWebKey[];
  if (trimmed.startsWith("{")) {
    try {
      const jwks = JSON.parse(trimmed) as { keys?: unknown };
      keys = Array.isArray(jwks.keys) ? (jwks.keys as JsonWebKey[]).filter((k) => k.kty !== "oct") : [];
    } catch (err) {
      throw new UsageError(`--k8s-token-keys ${file}: not a JWKS: ${(err as Error).message}`);
    }
  } else {
    const blocks = trimmed.match(/-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g) ?? [];
    try {
      keys = blocks.map((pem) => {
        const key = pem.includes("BEGIN CERTIFICATE") ? new X509Certificate(pem).publicKey : createPublicKey(pem);
        return { ...key.export({ format: "jwk" }), kid: kubernetesKeyId(key) };
      });
    } catch (err) {
      throw new UsageError(`--k8s-token-keys ${file}: ${(err as Error).message}`);
    }
  }
  if (keys.length === 0)
    throw new UsageError(
      `--k8s-token-keys ${file}: no public key (expected PEM PUBLIC KEY/CERTIFICATE blocks or a JWKS)`,
    );
  return keys;
}

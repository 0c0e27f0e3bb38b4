import { HttpError } from "../../common/errors.ts";
import { METRIC_PREFIX } from "../../common/metrics.ts";
import { Counter, type Registry } from "../../common/prom.ts";
import type { RevisionedKv } from "../state/kv.ts";
import { kvView } from "../state/machine.ts";
import { type K8sTokenVerifier, looksLikeJwt } from "./k8s-token.ts";
import { type Access, denial, type Principal } from "./roles.ts";
import { authenticateHash } from "./store.ts";
import { bearerCredential, hashToken, parseBearer } from "./token.ts";

export type Surface = "http" | "grpc";

/** A refusal: 401 (who are you?) or 403 (not you), with a stable code and a message that never holds the token. */
export class AuthError extends HttpError {
  constructor(status: 401 | 403, code: string, message: string) {
    super(status, code, message);
    this.name = "AuthError";
  }
}

/**
 * Authentication and authorization of one control-plane node: a bearer token checked against this node's
 * applied state (a revoke is refused here as soon as this node applies it) and the clock, then the role
 * against what the call needs. Every refusal is counted by surface and code.
 */
export class Gatekeeper {
  readonly #kv: RevisionedKv;
  readonly #now: () => number;
  readonly #refusals: Counter<"surface" | "code">;
  readonly #kubernetes: K8sTokenVerifier | undefined;

  /** `kubernetes`: verifies Kubernetes service-account tokens for sidecars (--k8s-token-keys); none = refused. */
  constructor(kv: RevisionedKv, registry: Registry, now: () => number = Date.now, kubernetes?: K8sTokenVerifier) {
    this.#kv = kv;
    this.#now = now;
    this.#kubernetes = kubernetes;
    this.#refusals = new Counter({
      name: `${METRIC_PREFIX}control_auth_refusals_total`,
      help: "Control-plane API calls refused: 401 (no, malformed, unknown, expired or revoked token) or 403 (role), by surface and code",
      labelNames: ["surface", "code"],
      registers: [registry],
    });
  }

  /** The principal behind `authorization`, allowed `access`; throws an AuthError (counted) otherwise. */
  check(surface: Surface, authorization: string | undefined, access: Access): Principal | undefined {
    if (access.kind === "open") return undefined;
    const bearer = parseBearer(authorization);
    if (!bearer.ok) throw this.#refuse(surface, 401, bearer.code, bearer.message);
    const who = authenticateHash(kvView(this.#kv), hashToken(bearer.token), this.#now());
    if (!who.ok) throw this.#refuse(surface, 401, who.code, who.message);
    const why = denial(who.principal, access);
    if (why !== undefined) throw this.#refuse(surface, 403, "ERR_FORBIDDEN", why);
    return who.principal;
  }

  /**
   * The JWT of `Authorization: Bearer <jwt>` when it should be checked as a Kubernetes service-account token:
   * only to attach a sidecar, and only when this node verifies such tokens. Anything else goes to check().
   */
  kubernetesToken(authorization: string | undefined, access: Access): string | undefined {
    if (this.#kubernetes === undefined || access.kind !== "attach" || authorization === undefined) return undefined;
    const token = bearerCredential(authorization);
    return token !== undefined && looksLikeJwt(token) ? token : undefined;
  }

  /** A sidecar principal for the token's service account; throws a counted 401 AuthError (ERR_K8S_TOKEN_*). */
  async checkKubernetes(surface: Surface, token: string): Promise<Principal> {
    const verifier = this.#kubernetes;
    if (verifier === undefined) throw this.#refuse(surface, 401, "ERR_TOKEN_MALFORMED", "not a meshlet token");
    const result = await verifier.verify(token, this.#now());
    if (!result.ok) throw this.#refuse(surface, 401, result.code, result.message);
    const { namespace, name } = result.account;
    return { name: `k8s:${namespace}/${name}`, role: "sidecar", account: result.account };
  }

  /** Counts a refusal decided elsewhere (a sidecar registering another service's endpoint). */
  refuse(surface: Surface, status: 401 | 403, code: string, message: string): AuthError {
    return this.#refuse(surface, status, code, message);
  }

  #refuse(surface: Surface, status: 401 | 403, code: string, message: string): AuthError {
    this.#refusals.inc({ surface, code });
    return new AuthError(status, code, message);
  }
}

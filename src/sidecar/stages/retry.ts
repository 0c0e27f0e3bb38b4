import type { AttemptError } from "../engine/attempt-error.ts";
import { GRPC_RETRY_NAMES } from "../engine/h2/grpc.ts";
import type { SidecarMetrics } from "../metrics.ts";
import type { CompiledPolicy } from "../resilience/compile.ts";
import type { RetryPlan } from "../snapshot.ts";
import type { ResponseFlag } from "./stage.ts";

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
/**
 * The retry budget: retries in progress never exceed 20 % of active requests (Envoy's budget_percent), with at
 * least 10 allowed at once. Envoy's floor of 3 let a burst of retries at 8 concurrent clients (one endpoint of
 * three failing half its requests) pass 1-2 % of failures through; 10 stays far from a retry storm for a sidecar
 * (Linkerd's floor is 10 retries a second).
 */
const RETRY_BUDGET = 0.2;
const MIN_RETRY_CONCURRENCY = 10;
/** The largest request body held for a retry (Linkerd's limit); a larger one streams and is not retried. */
export const RETRY_BODY_LIMIT = 64 * 1024;

/** The sidecar-wide retry budget: active requests and retries in progress. */
export class RetryBudget {
  active = 0;
  retrying = 0;

  /** Takes a retry slot (budget and the policy's maxRetries), counted either way. */
  take(service: string, policy: CompiledPolicy | undefined, metrics: SidecarMetrics): boolean {
    const budget = Math.max(MIN_RETRY_CONCURRENCY, this.active * RETRY_BUDGET);
    if (this.retrying >= budget || policy?.limits?.acquireRetry() === false) {
      metrics.retries.labels(service, "budget_exhausted").inc();
      return false;
    }
    this.retrying++;
    metrics.retries.labels(service, "retried").inc();
    return true;
  }

  give(policy: CompiledPolicy | undefined): void {
    this.retrying--;
    policy?.limits?.releaseRetry();
  }
}

/** The flag a failed attempt is answered with: UT past a timeout, UF when it could not connect, UR when reset. */
export function attemptFlag(timedOut: boolean, error: AttemptError | undefined): ResponseFlag | undefined {
  if (timedOut || error === "timeout") return "UT";
  if (error === "connect") return "UF";
  return error === "reset" ? "UR" : undefined;
}

/** Whether an attempt's outcome is one the route retries on. */
export function shouldRetry(
  on: ReadonlySet<string> | undefined,
  status: number | undefined,
  error: AttemptError | undefined,
  grpc?: number,
): boolean {
  if (on === undefined) return false;
  if (grpc !== undefined && error === undefined) {
    const name = GRPC_RETRY_NAMES.get(grpc);
    return name !== undefined && on.has(name);
  }
  if (error === "connect") return on.has("connect-failure") || on.has("5xx") || on.has("gateway-error");
  if (error !== undefined) return on.has("reset") || on.has("5xx");
  const s = status ?? 0;
  if (s >= 500 && on.has("5xx")) return true;
  return (s === 502 || s === 503 || s === 504) && on.has("gateway-error");
}

/** One request's retry state: which attempt this is, whether another may follow, and the backoff before it. */
export class RetryState {
  readonly #plan: RetryPlan | undefined;
  readonly #random: () => number;
  /** The method allows retries (idempotent, or the route retries any method). */
  readonly methodRetriable: boolean;
  /** The request can be sent again: retriable method, and no body or a held one. */
  retriable = false;
  /** A streamed body copied on its way (retries.idempotent): the request can be sent again once this says so. */
  resendable: (() => boolean) | undefined;
  attempt = 0;
  /** A retry slot of the budget is held. */
  inRetry = false;
  /**
   * The endpoints earlier attempts failed on, which a retry avoids while
   * another is usable (Envoy's previous_hosts predicate): without it a
   * consistent-hash route sends every retry back to the same dead instance.
   * Allocated on the first retry only.
   */
  failedOn: string[] | undefined;

  constructor(plan: RetryPlan | undefined, method: string, random: () => number) {
    this.#plan = plan;
    this.#random = random;
    this.methodRetriable = plan !== undefined && (plan.nonIdempotent || plan.idempotent || IDEMPOTENT.has(method));
  }

  get perTryTimeoutMs(): number | undefined {
    return this.#plan?.perTryTimeoutMs;
  }

  /** Another attempt may follow one that ended with this status or error. */
  wouldRetry(status: number | undefined, error: AttemptError | undefined, grpc?: number, unsent = false): boolean {
    return (
      (this.retriable || unsent || this.resendable?.() === true) &&
      this.attempt < (this.#plan?.attempts ?? 0) &&
      shouldRetry(this.#plan?.on, status, error, grpc)
    );
  }

  /** Records the endpoint an attempt failed on, before the retry. */
  failed(endpoint: string | undefined): void {
    if (endpoint === undefined) return;
    if (this.failedOn === undefined) this.failedOn = [endpoint];
    else this.failedOn.push(endpoint);
  }

  /** Full jitter over the capped exponential backoff of the current attempt. */
  backoffMs(): number {
    const cap = Math.min(this.#plan?.maxMs ?? 0, (this.#plan?.baseMs ?? 0) * 2 ** this.attempt);
    return this.#random() * cap;
  }
}

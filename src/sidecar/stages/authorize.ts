import type { StageEnv } from "./env.ts";
import type { Answer, Stage } from "./stage.ts";

const DENIED: Answer = { flag: "AZ", reply: undefined };

/** At most one denial log line per this many ms; the rest are counted in the next line (and each in metrics). */
const LOG_EVERY_MS = 1_000;

/**
 * Inbound: the service's AuthorizationPolicies (authz/compile.ts), on the
 * mTLS peer's SPIFFE ID and the engine's normalized path. A denial answers
 * 403 AZ; the request metrics and access log count it by its flag, and a
 * rate-limited warning names the peer, so a flood of denials costs no more
 * than a line a second.
 */
export function authorize(env: StageEnv): Stage {
  let loggedAt = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  return (ctx) => {
    const authorizer = env.authorizer();
    if (authorizer === undefined) return undefined;
    const req = ctx.req;
    const denial = authorizer.check(req);
    if (denial === undefined) return undefined;
    const peer = req.socket.peerIdentity;
    const now = env.clock.now();
    if (now - loggedAt >= LOG_EVERY_MS) {
      loggedAt = now;
      env.logger.warn(
        {
          peer: peer ?? "none (plain text)",
          policy: denial.policy,
          reason: denial.reason,
          method: req.method,
          path: req.path,
          suppressed,
        },
        "request denied by AuthorizationPolicy",
      );
      suppressed = 0;
    } else suppressed++;
    return DENIED;
  };
}

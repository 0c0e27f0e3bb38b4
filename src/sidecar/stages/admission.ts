import { admitRate, rateLimitKeyOf } from "../resilience/admission.ts";
import type { StageEnv } from "./env.ts";
import type { Stage } from "./stage.ts";

/** The policy's rate limit for this direction, per key (header or calling service): RL when refused. */
export function admission(env: StageEnv): Stage {
  return (ctx) => {
    const policy = ctx.policy;
    const rl = ctx.direction === "inbound" ? policy?.inboundRateLimit : policy?.rateLimit;
    if (rl === undefined || policy === undefined) return undefined;
    const admitted = admitRate(
      rl,
      rateLimitKeyOf(policy.rateLimitKey, ctx.req.headers, ctx.sourceService),
      { service: ctx.service, target: policy.target, direction: ctx.direction },
      env.resilience,
    );
    if (admitted === true) return undefined;
    return admitted.then((r) => (r === true ? undefined : { flag: "RL", reply: r }));
  };
}

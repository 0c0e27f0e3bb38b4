import { flagReply } from "../flag-reply.ts";
import type { LocalReply } from "../resilience/fallback.ts";
import { FLAGS_HEADER, fallbackReply, type ResilienceFlag, TRIGGER_OF_FLAG } from "../resilience/replies.ts";
import { matchRoute, splitDestination } from "../snapshot.ts";
import type { StageEnv } from "./env.ts";
import type { Answer, RequestContext, ResponseFlag } from "./stage.ts";

function isResilienceFlag(f: ResponseFlag | undefined): f is ResilienceFlag {
  return f === "RL" || f === "CB" || f === "UO" || f === "UH" || f === "UT";
}

/** What the fallback stage decided: a reply to write, or the request went to the fallback service. */
export type Resolution = { reply: LocalReply; flags: string } | { rerouted: true };

/**
 * The last stage: a local answer with a resilience flag becomes the
 * policy's fallback. A service fallback routes the request to that service
 * (one hop, never chained, never after the body was sent: it is gone); a
 * static or stale-cache fallback answers FB; otherwise the flag's own reply.
 */
export function fallback(env: StageEnv): (ctx: RequestContext, a: Answer) => Resolution {
  return (ctx, a) => {
    const flag = a.flag;
    const policy = ctx.policy;
    if (ctx.via === undefined && isResilienceFlag(flag) && toService(env, ctx, flag)) return { rerouted: true };
    let out = a.reply;
    if (policy?.fallback !== undefined && isResilienceFlag(flag)) {
      const fb = fallbackReply(
        policy.fallback,
        flag,
        { method: ctx.req.method, url: ctx.req.url, headers: ctx.req.headers, grpc: ctx.req.grpc },
        env.clock.now(),
        env.resilience,
      );
      if (fb !== undefined) out = fb;
    }
    if (out === undefined) out = flagReply(flag ?? "UR", ctx.service === "-" ? ctx.host : ctx.service);
    const flags = String(out.headers[FLAGS_HEADER] ?? flag ?? "-");
    return { reply: out, flags };
  };
}

function toService(env: StageEnv, ctx: RequestContext, flag: ResilienceFlag): boolean {
  const fb = ctx.policy?.fallback;
  if (fb?.action.kind !== "service") return false;
  const trigger = TRIGGER_OF_FLAG[flag];
  if (!fb.handles(trigger) || (flag === "UT" && ctx.req.hasBody) || !ctx.res.writable) return false;
  const snap = env.snapshot();
  const route = snap === undefined ? undefined : matchRoute(snap, fb.action.service, ctx.req, ctx.req.path);
  const dest = route === undefined ? undefined : splitDestination(route, env.random);
  if (route === undefined || dest === undefined) return false;
  env.resilience.fallbacks.labels(trigger, "service").inc();
  ctx.via = flag;
  ctx.route = route;
  ctx.dest = dest;
  ctx.service = dest.service;
  ctx.policy = dest.policy;
  return true;
}

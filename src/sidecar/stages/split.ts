import { splitDestination } from "../snapshot.ts";
import type { StageEnv } from "./env.ts";
import type { Answer, Stage } from "./stage.ts";

const NO_DESTINATION: Answer = { flag: "UH", reply: undefined };

/**
 * Picks the destination by weight, and with it the policy that governs the
 * request (inbound: the local service's). It runs before admission: a
 * destination's policy (route policy over service policy) holds its rate limit.
 */
export function split(env: StageEnv): Stage {
  return (ctx) => {
    const route = ctx.route;
    const dest = route === undefined ? undefined : splitDestination(route, env.random);
    if (dest === undefined) return NO_DESTINATION;
    ctx.dest = dest;
    ctx.service = dest.service;
    ctx.policy = ctx.direction === "inbound" ? env.snapshot()?.policies?.forService(env.localService) : dest.policy;
    return undefined;
  };
}

import { admission } from "./stages/admission.ts";
import { attempt, type Completion } from "./stages/attempt.ts";
import type { StageEnv } from "./stages/env.ts";
import { routeToApp } from "./stages/route.ts";
import { split } from "./stages/split.ts";
import type { Stage } from "./stages/stage.ts";

/** Calls to this app: one route to the local app, the local service's inbound rate limit, then attempted. */
export function inboundStages(env: StageEnv, complete: Completion): Stage[] {
  return [routeToApp(env), split(env), admission(env), attempt(env, complete)];
}
